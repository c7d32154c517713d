"""A recipient of a run ("Ontvanger"): its full history, and "Opnieuw versturen", optionally to
a corrected address, after a confirm step. A wrong address is refused before anything changes."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from distributie import states
from distributie.accounts import Action
from distributie.operations import reports
from distributie.operations import runs as run_ops
from distributie.web.access import requires
from distributie.web.actions import account_name
from distributie.web.context import web_context
from distributie.web.messages import dutch
from distributie.web.runs import valid_run
from distributie.web.words import reply_in_words

blueprint = Blueprint("recipients", __name__, url_prefix="/verzendingen/<run>/ontvangers")

KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,199}$")


def _recipient(run: str, key: str) -> reports.RecipientStatus:
    if not KEY.match(key):
        abort(404)
    found = reports.recipient_history(web_context().session.ledger, valid_run(run), key)
    if found is None:
        abort(404)
    return found


def _page(
    run: str, key: str, error: str | None = None, to: str = "", status: int = 200
) -> ResponseReturnValue:
    recipient = _recipient(run, key)
    of_run = reports.run_status(web_context().session.ledger, run, keys=[])
    if of_run is None:
        abort(404)
    page = render_template(
        "runs/recipient.html",
        run=run,
        run_status=of_run,
        recipient=recipient,
        can_resend=recipient.state in states.TERMINAL_STATES,
        reply_in_words=reply_in_words,
        error=error,
        to=to,
    )
    return page, status


@blueprint.route("/<key>")
@requires(Action.VIEW)
def show(run: str, key: str) -> ResponseReturnValue:
    return _page(run, key)


@blueprint.route("/<key>/opnieuw", methods=["POST"])
@requires(Action.RESEND)
def resend(run: str, key: str) -> ResponseReturnValue:
    """First the form's address is checked and a confirm step shown; only the confirmed form
    (bevestigd=ja) queues the recipient again."""
    recipient = _recipient(run, key)
    wanted = request.form.get("to", "").strip()
    address = None
    if wanted:
        try:
            address = run_ops.valid_address(wanted)
        except run_ops.InvalidAddress as exc:
            return _page(run, key, dutch(exc), wanted[:320], 422)
    if request.form.get("bevestigd") != "ja":
        return _confirm(run, recipient, address)
    try:
        run_ops.resend(web_context().session, run, key, address, account_name())
    except run_ops.ResendRefused as exc:
        return _page(run, key, dutch(exc), wanted[:320], 409)
    where = address or recipient.email
    flash(f"{recipient.gemeente} staat weer in de wachtrij, voor {where}.", "success")
    return redirect(url_for("recipients.show", run=run, key=key), code=303)


def _confirm(run: str, recipient: reports.RecipientStatus, address: str | None) -> str:
    if address and address != recipient.email:
        to_whom = f"naar het nieuwe adres {address} (in plaats van {recipient.email})"
    else:
        to_whom = f"naar {recipient.email}"
    return render_template(
        "confirm.html",
        title=f"Opnieuw versturen aan {recipient.gemeente}",
        paragraphs=[
            f"De burgemeester van {recipient.gemeente} krijgt de e-mail nog een keer, {to_whom}, "
            "met een nieuw Message-ID.",
            "Dit wordt met uw naam vastgelegd in de geschiedenis van deze ontvanger.",
        ],
        hook="resend",
        button="Ja, verstuur opnieuw",
        danger=False,
        hidden={"to": address or "", "bevestigd": "ja"},
        back=url_for("recipients.show", run=run, key=recipient.key),
    )
