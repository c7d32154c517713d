"""Requests that must take effect once: a form that starts a run carries a one-time token, so a
double click or a resubmitted form cannot start the same run twice (every burgemeester would get
the letter twice). The first request with a token claims it in Redis; a later one learns what
the first one did."""

from __future__ import annotations

import hashlib
import secrets
from typing import cast

import redis

PREFIX = "distributie:web:once:"
SECONDS = 24 * 3600


def new_token() -> str:
    return secrets.token_urlsafe(16)


class OnceTokens:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def _key(token: str) -> str:
        return PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()

    def claim(self, token: str) -> str | None:
        """None for the first request with `token`; for a later one, what the first recorded
        ("" while it is still busy)."""
        if self.client.set(self._key(token), "", nx=True, ex=SECONDS):
            return None
        found = cast(bytes | None, self.client.get(self._key(token)))
        return found.decode("utf-8") if found else ""

    def record(self, token: str, result: str) -> None:
        self.client.set(self._key(token), result, xx=True, keepttl=True)

    def release(self, token: str) -> None:
        """The request failed before it changed anything: the same form may be sent again."""
        self.client.delete(self._key(token))
