"""The accounts page ("Gebruikers"), for a beheerder: list, add and remove accounts."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import AccountError, Action, Role, UnknownAccount, parse_role
from distributie.web.access import current_account, requires
from distributie.web.context import web_context
from distributie.web.messages import dutch, field_of

blueprint = Blueprint("users", __name__, url_prefix="/gebruikers")


def _page(errors: dict[str, str], form: dict[str, str], status: int = 200) -> ResponseReturnValue:
    accounts = web_context().accounts.list()
    page = render_template(
        "users/index.html",
        accounts=accounts,
        roles=list(Role),
        errors=errors,
        form=form,
        added=request.args.get("toegevoegd"),
        removed=request.args.get("verwijderd"),
    )
    return page, status


@blueprint.route("", methods=["GET"])
@requires(Action.MANAGE_ACCOUNTS)
def index() -> ResponseReturnValue:
    return _page({}, {"role": Role.MEDEWERKER.value})


@blueprint.route("", methods=["POST"])
@requires(Action.MANAGE_ACCOUNTS)
def add() -> ResponseReturnValue:
    form = {key: request.form.get(key, "") for key in ("username", "email", "role")}
    password = request.form.get("password", "")
    if password != request.form.get("password_repeat", ""):
        return _page({"password_repeat": "De twee wachtwoorden zijn niet gelijk."}, form)
    try:
        account = web_context().accounts.add(
            form["username"], parse_role(form["role"]), password, form["email"] or None
        )
    except AccountError as exc:
        return _page({field_of(exc): dutch(exc)}, form)
    return redirect(url_for("users.index", toegevoegd=account.name), code=303)


@blueprint.route("/<name>/verwijderen", methods=["GET", "POST"])
@requires(Action.MANAGE_ACCOUNTS)
def remove(name: str) -> ResponseReturnValue:
    accounts = web_context().accounts
    account = accounts.get(name)
    if account is None:
        abort(404)
    me = current_account()
    if me is not None and me.name == account.name:
        return render_template("users/remove.html", account=account, own=True), 409
    if request.method == "GET":
        return render_template("users/remove.html", account=account, own=False)
    try:
        accounts.remove(account.name)
    except UnknownAccount:
        abort(404)
    return redirect(url_for("users.index", verwijderd=account.name), code=303)
