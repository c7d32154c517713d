"""The preview ("Voorbeeld") of any recipient of a checked list: subject and text, the HTML part
in a sandboxed frame with its own strict policy, and downloads of the exact .eml and of each
attachment (the gemeente's own .docx). Nothing is sent."""

from __future__ import annotations

import io

from flask import Blueprint, Response, abort, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue

from distributie.accounts import Action
from distributie.errors import UsageError
from distributie.operations import mailings
from distributie.web.access import requires
from distributie.web.newrun import Draft, ListRefused, load_draft, problems_page
from distributie.web.security import PREVIEW_POLICY

blueprint = Blueprint("preview", __name__, url_prefix="/nieuw/<folder>/<list_id>/voorbeeld")


def _preview(draft: Draft, gemeente: str) -> mailings.Preview:
    try:
        return mailings.preview(draft.checked, gemeente)
    except UsageError:
        abort(404)


def _draft(folder: str, list_id: str) -> Draft:
    try:
        return load_draft(folder, list_id)
    except ListRefused:
        abort(404)  # the pages before this one show the problems


@blueprint.route("")
@requires(Action.PREVIEW)
def pick(folder: str, list_id: str) -> ResponseReturnValue:
    """The form "Bekijk het bericht aan ..." sends the gemeente here."""
    try:
        draft = load_draft(folder, list_id)
    except ListRefused as exc:
        return problems_page(exc.problems, exc.list_name)
    shown = _preview(draft, request.args.get("gemeente", ""))
    target = url_for("preview.show", folder=folder, list_id=list_id, key=shown.recipient.key)
    return redirect(target, code=303)


@blueprint.route("/<key>")
@requires(Action.PREVIEW)
def show(folder: str, list_id: str, key: str) -> ResponseReturnValue:
    draft = _draft(folder, list_id)
    shown = _preview(draft, key)
    return render_template(
        "new/preview.html",
        draft=draft,
        recipient=shown.recipient,
        message=shown.message,
        sender=draft.checked.mailing.spec.sender,
        all_recipients=draft.checked.recipients.recipients,
    )


@blueprint.route("/<key>/bericht.eml")
@requires(Action.PREVIEW)
def eml(folder: str, list_id: str, key: str) -> ResponseReturnValue:
    shown = _preview(_draft(folder, list_id), key)
    return send_file(
        io.BytesIO(shown.message.data),
        mimetype="message/rfc822",
        as_attachment=True,
        download_name=f"{shown.recipient.key}.eml",
    )


@blueprint.route("/<key>/bijlage/<int:number>")
@requires(Action.PREVIEW)
def attachment(folder: str, list_id: str, key: str, number: int) -> ResponseReturnValue:
    attachments = _preview(_draft(folder, list_id), key).message.rendered.attachments
    if not 1 <= number <= len(attachments):
        abort(404)
    chosen = attachments[number - 1]
    return send_file(
        io.BytesIO(chosen.content),
        mimetype=chosen.mimetype,
        as_attachment=True,
        download_name=chosen.filename,
    )


@blueprint.route("/<key>/html")
@requires(Action.PREVIEW)
def html(folder: str, list_id: str, key: str) -> ResponseReturnValue:
    """The HTML part alone, for the preview's sandboxed frame: no script runs in it, it loads
    nothing from elsewhere, and only this site may show it in a frame."""
    rendered = _preview(_draft(folder, list_id), key).message.rendered
    if rendered.html is None:
        abort(404)
    response = Response(rendered.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
