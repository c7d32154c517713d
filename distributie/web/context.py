"""What every view needs, kept on the app: settings, the ledger session, the accounts, and what
this process remembers between requests (recent checks, the rate of each run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import redis
from flask import Flask, current_app

from distributie.accounts import Accounts, LoginThrottle
from distributie.operations.session import Session
from distributie.settings import Settings
from distributie.web.checks import CheckCache
from distributie.web.once import OnceTokens
from distributie.web.progress import RateMeter

_KEY = "distributie"


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    session: Session  # the ledger (the configured Redis, or the embedded one `web` runs)
    redis: redis.Redis
    accounts: Accounts
    throttle: LoginThrottle
    checks: CheckCache
    rates: RateMeter
    once: OnceTokens
    # With the embedded default: whether its worker runs (None: the deployment's own workers).
    workers_alive: Callable[[], bool] | None = None


def install(app: Flask, context: WebContext) -> None:
    app.extensions[_KEY] = context


def web_context() -> WebContext:
    return cast(WebContext, current_app.extensions[_KEY])
