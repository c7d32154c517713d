"""The Flask app: blueprints by concern, server-side sessions, CSRF on every POST, headers."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from flask import Flask
from flask_wtf.csrf import CSRFProtect
from jinja2 import StrictUndefined

from distributie.accounts import Accounts, Action, LoginThrottle, allows
from distributie.settings import Settings
from distributie.web import access, auth, context, errors, runs, security, users
from distributie.web.sessions import RedisSessionInterface

# Room for the other fields of a form that carries an upload of the maximum size.
FORM_OVERHEAD_BYTES = 64 * 1024


def create_app(
    settings: Settings, redis_client: redis.Redis, *, secret_key: bytes | None = None
) -> Flask:
    """The web page on `redis_client` (the ledger's Redis, from `ledger.connect(url)`)."""
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
            redis=redis_client,
            accounts=Accounts(redis_client),
            throttle=LoginThrottle(redis_client),
        ),
    )
    CSRFProtect(app)
    app.before_request(access.load_account)
    security.install(app, https=settings.web_secure_cookies)
    errors.install(app)
    for blueprint in (auth.blueprint, runs.blueprint, users.blueprint):
        app.register_blueprint(blueprint)
    _template_helpers(app, ZoneInfo(settings.timezone))
    return app


def _template_helpers(app: Flask, zone: ZoneInfo) -> None:
    def when(timestamp: float | None) -> str:
        if not timestamp:
            return ""
        return datetime.fromtimestamp(timestamp, zone).strftime("%d-%m-%Y %H:%M")

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        return {
            "current_account": access.current_account(),
            "allows": allows,
            "Action": Action,
            "when": when,
        }
