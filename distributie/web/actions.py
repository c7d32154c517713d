"""The run page's actions, each a confirm step (GET) and the change (POST, with CSRF and the
role check): "Mislukte opnieuw versturen" (retry) and "Annuleren" (cancel). The ledger records
the logged-in account as the one who did it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from distributie import states
from distributie.accounts import Action
from distributie.operations import reports
from distributie.operations import runs as run_ops
from distributie.web.access import current_account, requires
from distributie.web.context import web_context
from distributie.web.run_actions import retryable, stoppable
from distributie.web.run_state import page_clock
from distributie.web.runs import valid_run

blueprint = Blueprint("actions", __name__, url_prefix="/verzendingen/<run>")


def account_name() -> str:
    account = current_account()
    if account is None:  # requires() lets no one without an account in
        abort(403)
    return account.name


def _view(run: str) -> reports.RunView:
    view = reports.run_view(web_context().session.ledger, valid_run(run), per_page=1)
    if view is None:
        abort(404)
    return view


def _mailing(view: reports.RunView) -> str:
    return view.info.get("mailing", "")


@blueprint.route("/opnieuw-versturen", methods=["GET"])
@requires(Action.RETRY)
def retry(run: str) -> ResponseReturnValue:
    view = _view(run)
    count = retryable(view)
    unknown = view.counts.get(states.UNKNOWN, 0)
    paragraphs = [
        f"{count} e-mail(s) van de verzending ‘{_mailing(view)}’ zijn mislukt of hebben de stand "
        f"onbekend. Die worden opnieuw verstuurd, elk met een nieuw Message-ID."
    ]
    if unknown:
        paragraphs.append(
            f"Let op: bij {unknown} ontvanger(s) is onbekend of de e-mail is aangekomen. Zij "
            "krijgen hem misschien twee keer. Vraag het zo nodig eerst na."
        )
    return render_template(
        "confirm.html",
        title="Mislukte opnieuw versturen",
        paragraphs=paragraphs if count else ["Er is niets mislukt: er valt niets te versturen."],
        hook="retry",
        button=f"Ja, verstuur deze {count} opnieuw" if count else None,
        danger=False,
        hidden={},
        back=url_for("runs.show", run=run),
    )


@blueprint.route("/opnieuw-versturen", methods=["POST"])
@requires(Action.RETRY)
def retry_now(run: str) -> ResponseReturnValue:
    _view(run)
    requeue = run_ops.retry(web_context().session, run, account_name())
    flash(f"{len(requeue.queued)} e-mail(s) staan weer in de wachtrij.", "success")
    return redirect(url_for("runs.show", run=run), code=303)


@blueprint.route("/annuleren", methods=["GET"])
@requires(Action.CANCEL)
def cancel(run: str) -> ResponseReturnValue:
    view = _view(run)
    count = stoppable(view)
    sending = view.counts.get(states.SENDING, 0)
    paragraphs = [
        f"Annuleren stopt {count} e-mail(s) van de verzending ‘{_mailing(view)}’ die nog niet "
        "zijn verzonden. Wat al verzonden is, blijft verzonden."
    ]
    if sending:
        paragraphs.append(
            f"{sending} e-mail(s) worden op dit moment verzonden: die worden afgemaakt en daarna "
            "niet opnieuw geprobeerd."
        )
    control = reports.RunControl.from_hash(view.info)
    if control.stored_state == states.RUN_SCHEDULED and control.release_at:
        paragraphs.append(
            f"De verzending is gepland voor {page_clock().long(control.release_at)}. Na "
            "Annuleren wordt er op dat moment niets verzonden."
        )
    paragraphs.append("U kunt geannuleerde e-mails later alsnog versturen, per ontvanger.")
    return render_template(
        "confirm.html",
        title="Verzending annuleren",
        paragraphs=paragraphs if count or sending else ["Er is niets meer om te stoppen."],
        hook="cancel",
        button=f"Ja, stop deze {count} e-mail(s)" if count or sending else None,
        danger=True,
        hidden={},
        back=url_for("runs.show", run=run),
    )


@blueprint.route("/annuleren", methods=["POST"])
@requires(Action.CANCEL)
def cancel_now(run: str) -> ResponseReturnValue:
    _view(run)
    result = run_ops.cancel(web_context().session, run, account_name())
    message = f"{result.cancelled} e-mail(s) geannuleerd."
    if result.finishing:
        message += f" {result.finishing} werden net verzonden; die worden niet opnieuw geprobeerd."
    flash(message, "success")
    return redirect(url_for("runs.show", run=run), code=303)
