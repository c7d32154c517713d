"""Who is logged in, and the role check for views: outside the role is 403 and nothing runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar, cast

from flask import Response, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import Account, Action, Role, require
from distributie.web.context import web_context
from distributie.web.sessions import RedisSession

P = ParamSpec("P")
V = TypeVar("V")

# A page that follows a run asks for news every few seconds. Each request already reads the
# session from Redis; such a request re-reads the account only this often, so a page costs
# Redis about two reads per poll (a removed account sees at most this much more of a run).
ACCOUNT_CHECK_SECONDS = 30.0
_LIGHT = "_distributie_light_account_check"


def light_account_check(view: V) -> V:
    """Mark a read-only view that is polled: it trusts the session's recent account check."""
    setattr(view, _LIGHT, True)
    return view


def _is_light() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, _LIGHT, False))


def load_account() -> None:
    """Before every request: the session's account, if it still exists and is unchanged."""
    g.account = None
    name = session.get("account")
    if name is None:
        return
    light = _is_light()
    checked = session.get("checked")
    if light and isinstance(checked, list) and time.time() - checked[0] < ACCOUNT_CHECK_SECONDS:
        g.account = Account(name, Role(checked[1]), None, 0.0, session.get("changed_at", 0.0))
        return
    account = web_context().accounts.get(name)
    # A removed account, or a changed password or role, ends every session from before.
    if account is None or account.changed_at != session.get("changed_at"):
        cast(RedisSession, session).end()
        return
    g.account = account
    if light:
        session["checked"] = [time.time(), account.role.value]


def current_account() -> Account | None:
    return cast(Account | None, g.get("account"))


def log_in(account: Account) -> None:
    current = cast(RedisSession, session)
    current.renew()
    current.pop("csrf_token", None)
    current["account"] = account.name
    current["changed_at"] = account.changed_at
    g.account = account


def log_out() -> None:
    cast(RedisSession, session).end()
    g.account = None


def requires(
    action: Action,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """A view for logged-in accounts whose role allows `action`; others get 403 (NotAllowed),
    and a visitor who is not logged in goes to the login page. The view never runs for them."""

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            account = current_account()
            if account is None and request.headers.get("HX-Request"):
                # A page polling for news after its session ended: htmx loads the login page
                # as a whole page, instead of putting it inside the page it was updating.
                return Response(status=204, headers={"HX-Redirect": url_for("auth.login")})
            if account is None:
                wanted = request.full_path.rstrip("?") if request.method == "GET" else "/"
                if wanted == "/":
                    return redirect(url_for("auth.login"), code=303)
                return redirect(url_for("auth.login", next=wanted), code=303)
            require(account.role, action)
            return view(*args, **kwargs)

        return guarded

    return decorate
