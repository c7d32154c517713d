"""What every view needs, kept on the app: settings, Redis and the accounts (part B adds the
operations on runs here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis
from flask import Flask, current_app

from distributie.accounts import Accounts, LoginThrottle
from distributie.settings import Settings

_KEY = "distributie"


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    redis: redis.Redis
    accounts: Accounts
    throttle: LoginThrottle


def install(app: Flask, context: WebContext) -> None:
    app.extensions[_KEY] = context


def web_context() -> WebContext:
    return cast(WebContext, current_app.extensions[_KEY])
