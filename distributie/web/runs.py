"""The runs ("Verzendingen"): the home page. Part B fills it with the runs and their pages."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from distributie.accounts import Action
from distributie.web.access import requires

blueprint = Blueprint("runs", __name__)


@blueprint.route("/")
@requires(Action.VIEW)
def index() -> ResponseReturnValue:
    return render_template("runs/index.html", welcome="welkom" in request.args)
