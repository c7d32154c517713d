"""Who is logged in, and the role check for views: outside the role is 403 and nothing runs."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, cast

from flask import g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import Account, Action, require
from distributie.web.context import web_context
from distributie.web.sessions import RedisSession

P = ParamSpec("P")


def load_account() -> None:
    """Before every request: the session's account, if it still exists and is unchanged."""
    g.account = None
    name = session.get("account")
    if name is None:
        return
    account = web_context().accounts.get(name)
    # A removed account, or a changed password or role, ends every session from before.
    if account is None or account.changed_at != session.get("changed_at"):
        cast(RedisSession, session).end()
        return
    g.account = account


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
            if account is None:
                wanted = request.full_path.rstrip("?") if request.method == "GET" else "/"
                if wanted == "/":
                    return redirect(url_for("auth.login"), code=303)
                return redirect(url_for("auth.login", next=wanted), code=303)
            require(account.role, action)
            return view(*args, **kwargs)

        return guarded

    return decorate
