"""The Flask app: blueprints by concern, server-side sessions, CSRF on every POST, headers."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from jinja2 import StrictUndefined
from markupsafe import Markup, escape

from distributie.accounts import Accounts, Action, LoginThrottle, allows
from distributie.operations.session import Session
from distributie.web import (
    access,
    actions,
    auth,
    context,
    control,
    errors,
    newrun,
    previews,
    recipients,
    runs,
    security,
    testsend,
    users,
    words,
)
from distributie.web.checks import CheckCache
from distributie.web.once import OnceTokens
from distributie.web.progress import RateMeter
from distributie.web.sessions import RedisSessionInterface

# Room for the other fields of a form that carries an upload of the maximum size.
FORM_OVERHEAD_BYTES = 64 * 1024
# The blueprints that are about runs: the menu shows "Verzendingen" as the current page.
RUN_BLUEPRINTS = ("runs", "new", "preview", "recipients", "actions", "control", "testsend")


def create_app(
    session: Session,
    *,
    secret_key: bytes | None = None,
    workers_alive: Callable[[], bool] | None = None,
) -> Flask:
    """The web page on the ledger of `session` (the configured Redis, or the embedded one)."""
    settings = session.settings
    redis_client = session.ledger.client
    app = Flask(__name__)
    app.config.update(
        # Signs the CSRF tokens, whose values live in the server-side session. A new key per
        # process means a form opened before a restart is refused once (403, nothing changes).
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        MAX_CONTENT_LENGTH=settings.web_max_upload_bytes + FORM_OVERHEAD_BYTES,
        # The session's end (web_session_hours) bounds a token's life, not a separate hour.
        WTF_CSRF_TIME_LIMIT=None,
        PREFERRED_URL_SCHEME="https" if settings.web_secure_cookies else "http",
    )
    app.jinja_env.undefined = StrictUndefined
    app.session_interface = RedisSessionInterface(
        redis_client, settings.web_session_hours, settings.web_secure_cookies
    )
    context.install(
        app,
        context.WebContext(
            settings=settings,
            session=session,
            redis=redis_client,
            accounts=Accounts(redis_client),
            throttle=LoginThrottle(redis_client),
            checks=CheckCache(),
            rates=RateMeter(),
            once=OnceTokens(redis_client),
            workers_alive=workers_alive,
        ),
    )
    CSRFProtect(app)
    app.before_request(access.load_account)
    security.install(app, https=settings.web_secure_cookies)
    errors.install(app)
    for module in (auth, runs, newrun, testsend, previews, recipients, actions, control, users):
        app.register_blueprint(module.blueprint)
    _template_helpers(app, ZoneInfo(settings.timezone))
    return app


def _template_helpers(app: Flask, zone: ZoneInfo) -> None:
    def when(timestamp: float | str | None) -> str:
        if not timestamp:
            return ""
        return datetime.fromtimestamp(float(timestamp), zone).strftime("%d-%m-%Y %H:%M")

    def when_exact(timestamp: float | str | None) -> str:
        if not timestamp:
            return ""
        return datetime.fromtimestamp(float(timestamp), zone).strftime("%d-%m-%Y %H:%M:%S")

    @app.template_filter("breakable")
    def breakable(value: str) -> Markup:
        """An address that may wrap after its @ and before its dots, not inside a word."""
        return escape(value).replace("@", Markup("@<wbr>")).replace(".", Markup("<wbr>."))

    def number(value: int) -> str:
        return f"{value:,}".replace(",", ".")  # 10.000, as Dutch writes it

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        return {
            "current_account": access.current_account(),
            "allows": allows,
            "Action": Action,
            "when": when,
            "when_exact": when_exact,
            "number": number,
            "state_word": words.state_word,
            "outcome_word": words.outcome_word,
            "run_state_word": words.run_state_word,
            "run_blueprints": RUN_BLUEPRINTS,
        }
