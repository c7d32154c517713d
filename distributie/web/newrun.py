"""A new run ("Nieuwe verzending"): choose a mailing and its own list or an upload; the list is
checked exactly as `check` does (every problem in a table, nothing startable); then the count,
the sender, where it goes and a preview; then "Starten" with a confirm step naming the count.

A checked list is addressed as /nieuw/<mailing folder>/<list>, the list being "standaard" (the
mailing's own) or the id of a kept upload; nothing else from a URL ever reaches the disk.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import Action
from distributie.errors import InputError
from distributie.operations import mailings
from distributie.operations import runs as run_ops
from distributie.operations.mailings import CheckedMailing, MailingChoice
from distributie.operations.schedule import StartRefused, parse_start
from distributie.operations.uploads import UploadTooLarge, check_upload, stored_upload
from distributie.settings import Settings
from distributie.web.access import current_account, requires
from distributie.web.actions import account_name
from distributie.web.context import web_context
from distributie.web.errors import error_page
from distributie.web.messages import dutch, size
from distributie.web.once import new_token
from distributie.web.problems import shown
from distributie.web.words import long_moment

blueprint = Blueprint("new", __name__, url_prefix="/nieuw")

DEFAULT_LIST = "standaard"
SHOWN_PROBLEMS = 500  # a table longer than this helps nobody; the count says how many more
SHOWN_RECIPIENTS = 50
START_FIELD = "verzenden_op"


class StartField(NamedTuple):
    """A field of the start's confirm step (confirm.html's `fields`)."""

    name: str
    label: str
    type: str
    value: str
    hint: str


@dataclass(frozen=True)
class Draft:
    """A mailing with a list that passed the check: what "Starten" would send."""

    mailing: MailingChoice
    list_id: str  # DEFAULT_LIST or an upload id
    list_name: str
    checked: CheckedMailing

    @property
    def count(self) -> int:
        return len(self.checked.recipients.recipients)


class ListRefused(Exception):
    """The list of a URL did not pass the check (any more): its problems, and its name."""

    def __init__(self, problems: InputError, list_name: str) -> None:
        super().__init__(list_name)
        self.problems = problems
        self.list_name = list_name


def _list_path(settings: Settings, mailing: MailingChoice, list_id: str) -> Path:
    if list_id == DEFAULT_LIST:
        if mailing.default_list is None:
            abort(404)
        return mailing.default_list
    upload = stored_upload(settings, list_id)
    if upload is None:
        abort(404)
    return upload.path


def load_draft(folder: str, list_id: str, fresh: bool = False) -> Draft:
    """The checked mailing and list of a URL (404 for one that is not there). Raises ListRefused
    when the list does not pass; `fresh` checks again instead of using a recent check."""
    context = web_context()
    settings = context.settings
    mailing = mailings.find_mailing(settings, folder)
    if mailing is None:
        abort(404)
    path = _list_path(settings, mailing, list_id)

    def check() -> CheckedMailing:
        return mailings.check(settings, mailing.directory, path)

    try:
        checked = check() if fresh else context.checks.get((folder, list_id), check)
    except InputError as exc:
        raise ListRefused(exc, path.name) from None
    return Draft(mailing, list_id, path.name, checked)


def problems_page(exc: InputError, list_name: str) -> ResponseReturnValue:
    """Every problem as a table (row as Excel shows it, column, value, reason); nothing can be
    started from this page."""
    page = render_template(
        "new/problems.html",
        problems=[shown(p) for p in exc.problems[:SHOWN_PROBLEMS]],
        more=max(0, len(exc.problems) - SHOWN_PROBLEMS),
        count=len(exc.problems),
        list_name=list_name,
    )
    return page, 422


def _choose_page(errors: dict[str, str], form: dict[str, str], status: int) -> ResponseReturnValue:
    choices = mailings.available_mailings(web_context().settings)
    usable = [m for m in choices if not m.problems]
    if "mailing" not in form and usable:
        form = {**form, "mailing": usable[0].folder}
    page = render_template(
        "new/choose.html",
        mailings=choices,
        errors=errors,
        form=form,
        max_upload=size(web_context().settings.web_max_upload_bytes),
    )
    return page, status


@blueprint.route("", methods=["GET"])
@requires(Action.CHECK)
def choose() -> ResponseReturnValue:
    return _choose_page({}, {"lijst": DEFAULT_LIST}, 200)


@blueprint.route("", methods=["POST"])
@requires(Action.CHECK)
def upload() -> ResponseReturnValue:
    """The choice of mailing and list: the mailing's own list, or an uploaded file."""
    settings = web_context().settings
    form = {key: request.form.get(key, "") for key in ("mailing", "lijst")}
    mailing = mailings.find_mailing(settings, form["mailing"])
    if mailing is None or mailing.problems:
        return _choose_page({"mailing": "Kies een brief uit de lijst."}, form, 422)
    if form["lijst"] != "upload":
        if mailing.default_list is None:
            message = "Deze brief heeft geen eigen lijst. Kies een bestand om te uploaden."
            return _choose_page({"lijst": message}, form, 422)
        return redirect(url_for("new.checked", folder=mailing.folder, list_id=DEFAULT_LIST), 303)
    file = request.files.get("recipients")
    if file is None or not file.filename:
        message = "Kies het bestand met de ontvangers (.csv of .xlsx)."
        return _choose_page({"recipients": message}, form, 422)
    try:
        kept, checked = check_upload(settings, mailing.directory, file.filename, file.read())
    except UploadTooLarge as exc:
        return error_page(413, dutch(exc))
    except InputError as exc:
        return problems_page(exc, file.filename)
    web_context().checks.put((mailing.folder, kept.id), checked)
    return redirect(url_for("new.checked", folder=mailing.folder, list_id=kept.id), code=303)


def _delivery(settings: Settings) -> str:
    if settings.uses_outbox:
        return "outbox: er wordt niets gemaild. De berichten komen als bestanden in de outbox."
    return f"via de mailserver {settings.smtp_host}"


def checked_page(
    draft: Draft, errors: dict[str, str] | None = None, form: dict[str, str] | None = None
) -> str:
    """The list passed: the count, sender, where it goes, a preview, "Proef versturen" (its
    form filled with `form`, with `errors` beside its fields) and the way to start."""
    recipients = draft.checked.recipients.recipients
    account = current_account()
    test_form = {"test_to": (account.email if account else None) or "", "gemeente": ""}
    return render_template(
        "new/checked.html",
        draft=draft,
        sender=draft.checked.mailing.spec.sender,
        sample=draft.checked.sample,
        first=recipients[0],
        recipients=recipients[:SHOWN_RECIPIENTS],
        all_recipients=recipients,
        delivery=_delivery(web_context().settings),
        errors=errors or {},
        test_form=test_form | (form or {}),
        test_token=new_token(),
    )


@blueprint.route("/<folder>/<list_id>")
@requires(Action.CHECK)
def checked(folder: str, list_id: str) -> ResponseReturnValue:
    try:
        draft = load_draft(folder, list_id)
    except ListRefused as exc:
        return problems_page(exc.problems, exc.list_name)
    return checked_page(draft)


def _start_page(
    draft: Draft, token: str, typed: str = "", errors: dict[str, str] | None = None
) -> ResponseReturnValue:
    settings = web_context().settings
    where = (
        "Er wordt niets gemaild: de berichten komen als bestanden in de outbox."
        if settings.uses_outbox
        else f"Ze gaan via de mailserver {settings.smtp_host}."
    )
    paragraphs = [
        f"U gaat {draft.count} e-mails versturen: ‘{draft.mailing.name}’ aan de "
        f"{draft.count} ontvangers in {draft.list_name}, elk met een eigen bijlage.",
        where,
    ]
    if settings.require_approval:
        paragraphs.append(
            "Daarna keurt een collega de verzending goed (vier-ogenprincipe): pas dan wordt er "
            "iets verzonden. U kunt uw eigen verzending niet goedkeuren."
        )
    paragraphs.append(
        "Een verzonden e-mail kunt u niet terughalen. Nog niet verzonden e-mails kunt u "
        "daarna stoppen met Annuleren, of tegenhouden met Pauzeren."
    )
    button = f"Ja, verstuur {draft.count} e-mails"
    if settings.require_approval:
        button = f"Ja, leg de {draft.count} e-mails ter goedkeuring voor"
    page = render_template(
        "confirm.html",
        title="Verzending starten",
        paragraphs=paragraphs,
        hook="start",
        button=button,
        danger=False,
        hidden={"verzoek": token},
        back=url_for("new.checked", folder=draft.mailing.folder, list_id=draft.list_id),
        fields=[
            StartField(
                START_FIELD,
                "Verzenden op (niet verplicht)",
                "datetime-local",
                typed,
                "Laat leeg om meteen te beginnen. Met een datum en tijd begint de verzending "
                f"pas op dat moment (tijdzone {settings.timezone}), hoogstens een jaar vooruit.",
            )
        ],
        errors=errors or {},
    )
    return page, 422 if errors else 200


@blueprint.route("/<folder>/<list_id>/starten", methods=["GET"])
@requires(Action.START)
def start(folder: str, list_id: str) -> ResponseReturnValue:
    try:
        draft = load_draft(folder, list_id)
    except ListRefused as exc:
        return problems_page(exc.problems, exc.list_name)
    return _start_page(draft, new_token())


def first_request(token: str) -> ResponseReturnValue | None:
    """None when this is the first request with the form's one-time token; otherwise where a
    double click or a resent form leads: the run the first one started."""
    if not token or len(token) > 64:
        abort(400)
    earlier = web_context().once.claim(token)
    if earlier:
        return redirect(url_for("runs.show", run=earlier), code=303)
    if earlier is not None:
        return error_page(409, "Deze verzending wordt al gestart. Kijk bij Verzendingen.")
    return None


def start_time(typed: str) -> datetime | None:
    """The optional "Verzenden op": what <input type=datetime-local> sends (2026-12-07T09:00),
    or 07-12-2026 09:00 as people type it where a browser offers only a text field."""
    text = typed.strip()
    if not text:
        return None
    with contextlib.suppress(ValueError):
        text = datetime.strptime(text, "%d-%m-%Y %H:%M").isoformat()
    return parse_start(text, web_context().settings.timezone)


@blueprint.route("/<folder>/<list_id>/starten", methods=["POST"])
@requires(Action.START)
def start_now(folder: str, list_id: str) -> ResponseReturnValue:
    """Check again exactly as `send` does, then start (at once, at its time, or after approval,
    as the settings and the form say). The form's one-time token makes a double click or a
    resent form start nothing more: it leads to the run the first one started."""
    context = web_context()
    token = request.form.get("verzoek", "")
    typed = request.form.get(START_FIELD, "")[:100]
    try:
        when = start_time(typed)
    except StartRefused as exc:
        try:
            draft = load_draft(folder, list_id)
        except ListRefused as refused:
            return problems_page(refused.problems, refused.list_name)
        return _start_page(draft, token, typed, {START_FIELD: dutch(exc)})
    answered = first_request(token)
    if answered is not None:
        return answered
    try:
        draft = load_draft(folder, list_id, fresh=True)
    except ListRefused as exc:
        context.once.release(token)
        return problems_page(exc.problems, exc.list_name)
    except BaseException:
        context.once.release(token)  # nothing was started: the form may be sent again
        raise
    plan = run_ops.RunPlan(release_at=when, needs_approval=context.settings.require_approval)
    recipients = draft.checked.recipients.recipients
    run_id = run_ops.start_run(context.session, draft.checked, recipients, account_name(), plan)
    context.once.record(token, run_id)
    flash(_started(draft.count, plan), "success")
    return redirect(url_for("runs.show", run=run_id), code=303)


def _started(count: int, plan: run_ops.RunPlan) -> str:
    if plan.release_at is None and not plan.needs_approval:
        return f"De verzending van {count} e-mails is gestart."
    said = f"De verzending van {count} e-mails is "
    if plan.release_at is not None:
        zone = ZoneInfo(web_context().settings.timezone)
        said += f"gepland voor {long_moment(plan.release_at.astimezone(zone))}"
        said += " en wacht op goedkeuring door een collega." if plan.needs_approval else "."
        return said
    return said + "aangemaakt en wacht op goedkeuring door een collega."
