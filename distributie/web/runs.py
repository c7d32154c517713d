"""The runs ("Verzendingen"): every run, newest first; a run's page that follows it live (htmx
polls a fragment every few seconds and stops when every recipient is done); its reports."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import Action
from distributie.operations import reports
from distributie.operations.reports import RunView
from distributie.web.access import current_account, light_account_check, requires
from distributie.web.context import web_context
from distributie.web.progress import rate_words
from distributie.web.run_actions import run_actions
from distributie.web.run_state import page_clock, shown_run
from distributie.web.words import (
    FILTER_ORDER,
    STATE_MEANINGS,
    reply_in_words,
    show_reply,
    state_word,
)

blueprint = Blueprint("runs", __name__)

RUN_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}$")


@blueprint.route("/")
@requires(Action.VIEW)
def index() -> ResponseReturnValue:
    summaries = reports.run_summaries(web_context().session.ledger)
    return render_template(
        "runs/index.html", runs=list(reversed(summaries)), welcome="welkom" in request.args
    )


def valid_run(run: str) -> str:
    """The run id from a URL, or 404 for anything that cannot be one."""
    if not RUN_ID.match(run):
        abort(404)
    return run


@dataclass(frozen=True)
class Filters:
    """What the run page shows: a state, part of a gemeente's name, a page; live or not."""

    state: str | None
    search: str
    page: int
    live: bool

    @classmethod
    def from_request(cls) -> Filters:
        try:
            page = max(1, int(request.args.get("pagina", "1")))
        except ValueError:
            page = 1
        return cls(
            state=request.args.get("status") or None,
            search=request.args.get("zoek", "")[:100],
            page=page,
            live=request.args.get("live") != "uit",
        )

    def url(self, endpoint: str, run: str, **changes: object) -> str:
        """The URL of `endpoint` for `run` with these filters, some changed."""
        values: dict[str, Any] = {
            "status": self.state,
            "zoek": self.search or None,
            "pagina": self.page if self.page > 1 else None,
            "live": None if self.live else "uit",
        }
        values.update(changes)
        return url_for(endpoint, run=run, **{k: v for k, v in values.items() if v is not None})


def _view(run: str, filters: Filters) -> RunView:
    view = reports.run_view(
        web_context().session.ledger,
        valid_run(run),
        filters.state,
        filters.search,
        filters.page,
    )
    if view is None:
        abort(404)
    return view


@dataclass(frozen=True)
class Row:
    """One recipient as a row of the run page, every word and time already made (a page that
    follows a run renders fifty of these every few seconds: the template only prints them)."""

    key: str
    gemeente: str
    email: str
    state: str
    state_word: str
    attempts: int
    said: str
    reply: str  # the server's own words, when they add to `said`
    time: str
    url: str


def rows_of(view: RunView) -> list[Row]:
    zone = ZoneInfo(web_context().settings.timezone)

    def when(timestamp: float | None, seconds: bool = True) -> str:
        if not timestamp:
            return ""
        shown = datetime.fromtimestamp(timestamp, zone)
        return shown.strftime("%d-%m-%Y %H:%M:%S" if seconds else "%d-%m-%Y %H:%M")

    # The keys are slugs: safe in a URL as they are.
    prefix = url_for("recipients.show", run=view.run, key="-").removesuffix("-")
    return [
        Row(
            key=r.key,
            gemeente=r.gemeente,
            email=r.email,
            state=r.state,
            state_word=state_word(r.state),
            attempts=r.attempts,
            said=reply_in_words(r.state, r.last_reply, r.waiting, when(r.not_before, False)),
            reply=r.last_reply if show_reply(r.state, r.last_reply) else "",
            time=when(r.updated_at),
            url=prefix + r.key,
        )
        for r in view.recipients
    ]


def _page_values(view: RunView, filters: Filters) -> dict[str, object]:
    context = web_context()
    rate = None if view.finished else context.rates.observe(view.run, view.done)
    polling = filters.live and not view.finished
    workers = context.workers_alive
    shown = shown_run(view.info, view.counts, page_clock())
    account = current_account()
    return {
        "view": view,
        "shown": shown,
        "filters": Filters(view.state, view.search, view.page, filters.live),
        "actions": run_actions(view, shown, account.name if account else ""),
        "rate": rate_words(rate),
        "polling": polling,
        "poll_seconds": shown.poll_seconds,
        "filter_order": FILTER_ORDER,
        "meanings": STATE_MEANINGS,
        "rows": rows_of(view),
        "workers_stopped": workers is not None and not view.finished and not workers(),
    }


@blueprint.route("/verzendingen/<run>")
@requires(Action.VIEW)
def show(run: str) -> ResponseReturnValue:
    filters = Filters.from_request()
    view = _view(run, filters)
    return render_template("runs/run.html", **_page_values(view, filters))


@blueprint.route("/verzendingen/<run>/stand")
@light_account_check
@requires(Action.VIEW)
def live(run: str) -> ResponseReturnValue:
    """The changing parts of the run page, for htmx: the summary, and the rows (out of band).
    Costs Redis the session read and one command; once every recipient is done the fragment
    comes without its polling trigger, and the page stops asking."""
    filters = Filters.from_request()
    view = _view(run, filters)
    return render_template("runs/live.html", **_page_values(view, filters))


def _status(run: str) -> reports.RunStatus:
    status = reports.run_status(web_context().session.ledger, valid_run(run))
    if status is None:
        abort(404)
    return status


@blueprint.route("/verzendingen/<run>/rapport.csv")
@requires(Action.DOWNLOAD)
def export_csv(run: str) -> ResponseReturnValue:
    status = _status(run)
    text = io.StringIO()
    reports.write_status_csv(text, status.recipients)
    # With a byte order mark Excel reads the names as UTF-8 (Súdwest-Fryslân, not SÃºdwest).
    data = io.BytesIO(b"\xef\xbb\xbf" + text.getvalue().encode("utf-8"))
    return send_file(
        data, mimetype="text/csv", as_attachment=True, download_name=f"verzending-{run}.csv"
    )


@blueprint.route("/verzendingen/<run>/rapport.xlsx")
@requires(Action.DOWNLOAD)
def export_xlsx(run: str) -> ResponseReturnValue:
    status = _status(run)
    data = io.BytesIO()
    reports.write_status_xlsx(data, status.recipients)
    data.seek(0)
    return send_file(
        data,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"verzending-{run}.xlsx",
    )
