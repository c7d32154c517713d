"""Server-side sessions in the ledger's Redis: the browser holds only a random id, so logging
out or expiry ends a session on the server, and a Redis dump holds no usable session id."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, cast

import redis
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

PREFIX = "distributie:web:session:"
# A visitor who has not logged in only needs a session for the login form's CSRF token.
ANONYMOUS_SECONDS = 3600


def session_key(sid: str) -> str:
    return PREFIX + hashlib.sha256(sid.encode("ascii")).hexdigest()


class RedisSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, data: dict[str, Any], sid: str | None) -> None:
        def on_update(_: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(data, on_update)
        self.sid = sid  # None until stored
        self.new = sid is None
        self.modified = False
        self.ended = False
        self.stale_sid: str | None = None

    def renew(self) -> None:
        """A new id for the same data: on login, so an id planted before it is worthless."""
        if self.sid is not None:
            self.stale_sid = self.sid
        self.sid = None
        self.modified = True

    def end(self) -> None:
        """Logout: the session is deleted on the server and its cookie removed."""
        self.clear()
        self.ended = True


class RedisSessionInterface(SessionInterface):
    def __init__(self, client: redis.Redis, hours: float, secure: bool) -> None:
        self.client = client
        self.seconds = max(1, int(hours * 3600))
        self.secure = secure
        # __Host- makes the browser refuse the cookie unless it is Secure, host-only and Path=/.
        self.cookie_name = "__Host-distributie" if secure else "distributie"

    def open_session(self, app: Flask, request: Request) -> RedisSession:
        if app.static_url_path and request.path.startswith(app.static_url_path + "/"):
            return RedisSession({}, None)  # style sheets and scripts need no Redis round trip
        sid = request.cookies.get(self.cookie_name)
        if sid and len(sid) <= 64:
            stored = cast(bytes | None, self.client.get(session_key(sid)))
            if stored is not None:
                return RedisSession(json.loads(stored), sid)
        return RedisSession({}, None)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        session = cast(RedisSession, session)
        if session.stale_sid is not None:
            self.client.delete(session_key(session.stale_sid))
        if session.ended or (not session and session.sid is not None):
            if session.sid is not None:
                self.client.delete(session_key(session.sid))
            self._forget_cookie(response)
            return
        if not session or not session.modified:
            return
        data = json.dumps(dict(session))
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
            seconds = self.seconds if "account" in session else min(self.seconds, ANONYMOUS_SECONDS)
            self.client.set(session_key(session.sid), data, ex=seconds)
            self._set_cookie(response, session.sid)
        else:
            # XX: a session that expired meanwhile is not brought back without its expiry.
            self.client.set(session_key(session.sid), data, xx=True, keepttl=True)

    def _set_cookie(self, response: Response, sid: str) -> None:
        # No Expires: the browser forgets it on closing; the server ends it after `hours`.
        response.set_cookie(
            self.cookie_name,
            sid,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def _forget_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax"
        )
