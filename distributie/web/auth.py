"""Logging in and out, and the first-use page that creates the first beheerder account."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import (
    AccountError,
    FirstUseRefused,
    LoginFailed,
    LoginThrottled,
    TokenState,
    create_first_account,
    token_state,
    verify_login,
)
from distributie.web.access import current_account, log_in, log_out
from distributie.web.context import web_context
from distributie.web.messages import dutch, field_of, first_use_refused

blueprint = Blueprint("auth", __name__)
FIRST_USE_PATH = "/eerste-account/"


def first_use_path(token: str) -> str:
    """Where the first-use link points, after the page's address (printed by `web`)."""
    return FIRST_USE_PATH + token


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an address elsewhere (an open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("runs.index")


@blueprint.route("/inloggen", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_account() is not None:
        return redirect(_safe_next(request.args.get("next")), code=303)
    context = web_context()
    no_accounts = context.accounts.count() == 0
    if request.method == "GET":
        return render_template(
            "auth/login.html",
            error=None,
            username="",
            logged_out="uitgelogd" in request.args,
            no_accounts=no_accounts,
        )
    username = request.form.get("username", "")
    try:
        account = verify_login(
            context.accounts,
            context.throttle,
            username,
            request.form.get("password", ""),
            request.remote_addr or "unknown",
        )
    except (LoginFailed, LoginThrottled) as exc:
        status = 429 if isinstance(exc, LoginThrottled) else 200
        page = render_template(
            "auth/login.html",
            error=dutch(exc),
            username=username[:100],
            logged_out=False,
            no_accounts=no_accounts,
        )
        return page, status
    log_in(account)
    return redirect(_safe_next(request.args.get("next")), code=303)


@blueprint.route("/uitloggen", methods=["POST"])
def logout() -> ResponseReturnValue:
    log_out()
    return redirect(url_for("auth.login", uitgelogd=1), code=303)


@blueprint.route(FIRST_USE_PATH + "<token>", methods=["GET", "POST"])
def first_use(token: str) -> ResponseReturnValue:
    context = web_context()
    state = token_state(context.accounts, token)
    if state is not TokenState.VALID:
        return _first_use_refused(state is TokenState.CLOSED)
    if request.method == "GET":
        return render_template("auth/first_use.html", errors={}, form={})
    form = {key: request.form.get(key, "") for key in ("username", "email")}
    password = request.form.get("password", "")
    errors: dict[str, str] = {}
    if password != request.form.get("password_repeat", ""):
        errors["password_repeat"] = "De twee wachtwoorden zijn niet gelijk."
    else:
        try:
            account = create_first_account(
                context.accounts, token, form["username"], password, form["email"] or None
            )
        except FirstUseRefused as exc:
            return _first_use_refused(exc.accounts_exist)
        except AccountError as exc:
            errors[field_of(exc)] = dutch(exc)
        else:
            log_in(account)
            return redirect(url_for("runs.index", welkom=1), code=303)
    return render_template("auth/first_use.html", errors=errors, form=form), 200


def _first_use_refused(accounts_exist: bool) -> ResponseReturnValue:
    page = render_template(
        "auth/first_use_refused.html",
        message=first_use_refused(accounts_exist),
        accounts_exist=accounts_exist,
    )
    return page, 404
