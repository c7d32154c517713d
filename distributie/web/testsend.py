"""A proefzending from Nieuwe verzending ("Proef versturen"): the real message of one gemeente
of a checked list, with its own attachment, to one address (by default the logged-in person's),
marked [PROEF]. It is a run of its own (kind test), started through operations.runs.start_run
exactly as `send --test-to` does, so it never counts as delivery to a gemeente and never holds
up a real run."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import Action
from distributie.operations import runs as run_ops
from distributie.operations.mailings import Recipient
from distributie.web.access import requires
from distributie.web.actions import account_name
from distributie.web.context import web_context
from distributie.web.messages import dutch
from distributie.web.newrun import (
    Draft,
    ListRefused,
    checked_page,
    first_request,
    load_draft,
    problems_page,
)

blueprint = Blueprint("testsend", __name__, url_prefix="/nieuw")

ADDRESS_FIELD = "test_to"
GEMEENTE_FIELD = "proef-gemeente"


def _read_form(draft: Draft) -> tuple[dict[str, str], str | None, Recipient | None, dict[str, str]]:
    """The form as typed, the checked address and the chosen recipient (None: not usable), and
    what is wrong, per field."""
    form = {
        "test_to": request.form.get(ADDRESS_FIELD, "").strip()[:320],
        "gemeente": request.form.get("gemeente", "")[:200],
    }
    errors = {}
    address = None
    if not form["test_to"]:
        errors[ADDRESS_FIELD] = "Vul het e-mailadres in waar de proef heen moet."
    else:
        try:
            address = run_ops.valid_address(form["test_to"], "--test-to")
        except run_ops.InvalidAddress as exc:
            errors[ADDRESS_FIELD] = dutch(exc)
    chosen = _recipient(draft, form["gemeente"])
    if chosen is None:
        errors[GEMEENTE_FIELD] = "Kies een gemeente uit de lijst."
    return form, address, chosen, errors


def _recipient(draft: Draft, wanted: str) -> Recipient | None:
    """A recipient by key (the select), or by the gemeente's name (a text field, long lists)."""
    for recipient in draft.checked.recipients.recipients:
        if wanted in (recipient.key, recipient.gemeente) or wanted.strip() == recipient.gemeente:
            return recipient
    return None


@blueprint.route("/<folder>/<list_id>/proef", methods=["POST"])
@requires(Action.TEST_SEND)
def send(folder: str, list_id: str) -> ResponseReturnValue:
    """Check the address and the gemeente (the page again with what is wrong beside its field,
    and nothing stored), check the list again as `send` does, then start the test run."""
    context = web_context()
    try:
        draft = load_draft(folder, list_id)
    except ListRefused as exc:
        return problems_page(exc.problems, exc.list_name)
    form, address, chosen, errors = _read_form(draft)
    if address is None or chosen is None:
        return checked_page(draft, errors, form), 422
    answered = first_request(request.form.get("verzoek", ""))
    if answered is not None:
        return answered
    token = request.form["verzoek"]
    try:
        draft = load_draft(folder, list_id, fresh=True)
        recipient = _recipient(draft, chosen.key)
    except BaseException:
        context.once.release(token)  # nothing was started: the form may be sent again
        raise
    if recipient is None:  # the list changed on disk since the page was made
        context.once.release(token)
        return checked_page(draft, {GEMEENTE_FIELD: "Kies een gemeente uit de lijst."}, form), 422
    plan = run_ops.RunPlan(test_to=address)
    run_id = run_ops.start_run(context.session, draft.checked, [recipient], account_name(), plan)
    context.once.record(token, run_id)
    flash(
        f"De proefzending is gestart: de e-mail aan {recipient.gemeente}, met [PROEF] voor het "
        f"onderwerp, gaat naar {address}.",
        "success",
    )
    return redirect(url_for("runs.show", run=run_id), code=303)
