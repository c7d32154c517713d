"""Run control on the run page, each a confirm step (GET) and the change (POST, with CSRF and
the role check) through operations.control, recorded with the logged-in account's name:
"Goedkeuren" and "Afwijzen" (the vier-ogenprincipe: never by the one who created the run),
"Pauzeren" and "Hervatten"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from distributie import states
from distributie.accounts import Action
from distributie.operations import control, reports
from distributie.operations.session import Session
from distributie.web.access import requires
from distributie.web.actions import account_name
from distributie.web.context import web_context
from distributie.web.errors import error_page
from distributie.web.messages import dutch, own_run_refused
from distributie.web.run_actions import stoppable
from distributie.web.run_state import Clock, RunShown, page_clock, shown_run
from distributie.web.runs import valid_run

blueprint = Blueprint("control", __name__, url_prefix="/verzendingen/<run>")


def _run(run: str) -> tuple[reports.RunView, RunShown, Clock]:
    view = reports.run_view(web_context().session.ledger, valid_run(run), per_page=1)
    if view is None:
        abort(404)
    clock = page_clock()
    return view, shown_run(view.info, view.counts, clock), clock


def _confirm(
    run: str, title: str, paragraphs: list[str], hook: str, button: str | None, danger: bool
) -> ResponseReturnValue:
    return render_template(
        "confirm.html",
        title=title,
        paragraphs=paragraphs,
        hook=hook,
        button=button,
        danger=danger,
        hidden={},
        back=url_for("runs.show", run=run),
    )


def _not_now(run: str, shown: RunShown, what: str) -> ResponseReturnValue:
    """The confirm step of an action the run's state does not allow (any more)."""
    said = [f"Dit kan nu niet: de verzending is {shown.word}."]
    return _confirm(run, what, said, "", None, False)


def _own_run(run: str) -> ResponseReturnValue:
    return error_page(
        403, own_run_refused(), "Iemand anders moet goedkeuren", url_for("runs.show", run=run)
    )


def _done(run: str, message: str) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("runs.show", run=run), code=303)


def _refused(run: str, exc: control.ControlRefused) -> ResponseReturnValue:
    """The ledger refused (the run changed meanwhile, or the creator approves): nothing changed."""
    if exc.reason == "same_person":
        return _own_run(run)
    return error_page(409, dutch(exc), back=url_for("runs.show", run=run))


def _change(
    run: str, change: Callable[[Session, str, str], control.Controlled]
) -> control.Controlled:
    """The POST of a control: the change in the name of the logged-in account; when the ledger
    refuses it, the refusal's page is the response and nothing changed."""
    _run(run)
    try:
        return change(web_context().session, run, account_name())
    except control.ControlRefused as exc:
        abort(make_response(_refused(run, exc)))


@blueprint.route("/goedkeuren", methods=["GET"])
@requires(Action.APPROVE)
def approve(run: str) -> ResponseReturnValue:
    view, shown, clock = _run(run)
    if shown.state != states.RUN_AWAITING_APPROVAL:
        return _not_now(run, shown, "Verzending goedkeuren")
    if shown.created_by == account_name():
        return _own_run(run)
    info = view.info
    when = "Ze gaan meteen uit."
    button = f"Ja, keur goed en verstuur {view.total} e-mails"
    if info.get("release_at") and float(info["release_at"]) > clock.now:
        when = f"Ze gaan uit op het geplande tijdstip: {clock.long(float(info['release_at']))}."
        button = "Ja, keur goed (verzenden op het geplande tijdstip)"
    listed = PurePath(info.get("recipients_path", "")).name
    return _confirm(
        run,
        "Verzending goedkeuren",
        [
            f"{shown.created_by} heeft de verzending ‘{info.get('mailing', '')}’ aangemaakt: "
            f"{view.total} e-mails aan de ontvangers in {listed}, elk met een eigen bijlage. "
            f"{when}",
            "U keurt hem goed als tweede persoon (vier-ogenprincipe). Dit wordt met uw naam "
            "vastgelegd. Een verzonden e-mail kunt u niet terughalen. Wilt u eerst de "
            "ontvangers zien? Ga dan terug naar de verzending.",
        ],
        "approve",
        button,
        False,
    )


@blueprint.route("/goedkeuren", methods=["POST"])
@requires(Action.APPROVE)
def approve_now(run: str) -> ResponseReturnValue:
    done = _change(run, control.approve)
    if done.state == states.RUN_SCHEDULED:
        _, later, _ = _run(run)
        return _done(run, f"Goedgekeurd. {later.sentence}")
    return _done(run, f"Goedgekeurd. {done.handed_over} e-mail(s) worden nu verstuurd.")


@blueprint.route("/afwijzen", methods=["GET"])
@requires(Action.REJECT)
def reject(run: str) -> ResponseReturnValue:
    view, shown, _ = _run(run)
    if shown.state not in (states.RUN_AWAITING_APPROVAL, states.RUN_SCHEDULED):
        return _not_now(run, shown, "Verzending afwijzen")
    return _confirm(
        run,
        "Verzending afwijzen",
        [
            f"Afwijzen stopt de verzending ‘{view.info.get('mailing', '')}’ van "
            f"{shown.created_by}: alle {stoppable(view)} e-mails krijgen de stand geannuleerd. "
            "Er wordt niets verzonden.",
            "Dit wordt met uw naam vastgelegd. Wie de e-mails toch wil versturen, begint een "
            "nieuwe verzending.",
        ],
        "reject",
        "Ja, wijs de verzending af",
        True,
    )


@blueprint.route("/afwijzen", methods=["POST"])
@requires(Action.REJECT)
def reject_now(run: str) -> ResponseReturnValue:
    _change(run, control.reject)
    return _done(run, "De verzending is afgewezen. Er is niets verzonden.")


@blueprint.route("/pauzeren", methods=["GET"])
@requires(Action.PAUSE)
def pause(run: str) -> ResponseReturnValue:
    view, shown, _ = _run(run)
    if shown.state != states.RUN_ACTIVE:
        return _not_now(run, shown, "Verzending pauzeren")
    return _confirm(
        run,
        "Verzending pauzeren",
        [
            f"Pauzeren houdt de verzending ‘{view.info.get('mailing', '')}’ tegen: er begint "
            f"geen nieuwe verzendpoging. Nu wachten er nog {stoppable(view)} e-mail(s).",
            "Een e-mail die op dit moment wordt verzonden, wordt afgemaakt. Met Hervatten gaat "
            "de verzending verder waar hij stopte: niemand krijgt de e-mail twee keer en "
            "niemand wordt overgeslagen.",
        ],
        "pause",
        "Ja, pauzeer de verzending",
        False,
    )


@blueprint.route("/pauzeren", methods=["POST"])
@requires(Action.PAUSE)
def pause_now(run: str) -> ResponseReturnValue:
    _change(run, control.pause)
    return _done(run, "De verzending is gepauzeerd. Er begint geen nieuwe verzendpoging.")


@blueprint.route("/hervatten", methods=["GET"])
@requires(Action.RESUME)
def resume(run: str) -> ResponseReturnValue:
    view, shown, _ = _run(run)
    if shown.state != states.RUN_PAUSED:
        return _not_now(run, shown, "Verzending hervatten")
    return _confirm(
        run,
        "Verzending hervatten",
        [
            f"{shown.sentence} Hervatten verstuurt de {stoppable(view)} e-mail(s) die nog wachten.",
            "Wie al een e-mail heeft gekregen, krijgt hem niet nog een keer.",
        ],
        "resume",
        "Ja, ga verder met versturen",
        False,
    )


@blueprint.route("/hervatten", methods=["POST"])
@requires(Action.RESUME)
def resume_now(run: str) -> ResponseReturnValue:
    done = _change(run, control.resume)
    return _done(run, f"De verzending gaat verder: {done.handed_over} e-mail(s) worden verstuurd.")
