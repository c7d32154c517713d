"""Error pages in Dutch with the right status: 403 (role, CSRF), 404, 405, 413 and 500."""

from __future__ import annotations

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from distributie.accounts import NotAllowed
from distributie.web.messages import dutch

_PAGES: dict[int, tuple[str, str]] = {
    400: ("Verzoek niet begrepen", "De pagina kon dit verzoek niet verwerken."),
    403: ("Geen toegang", "U hebt geen toegang tot deze pagina. Er is niets veranderd."),
    404: ("Pagina niet gevonden", "Deze pagina bestaat niet (meer). Controleer het adres."),
    405: ("Niet toegestaan", "Dit kan op deze pagina niet. Er is niets veranderd."),
    409: ("Kan nu niet", "Dit kan op dit moment niet. Er is niets veranderd."),
    413: (
        "Bestand te groot",
        "Het bestand is groter dan distributie aanneemt. Er is niets opgeslagen.",
    ),
    500: (
        "Er ging iets mis",
        "Er ging iets mis bij het maken van deze pagina. Probeer het later nog eens.",
    ),
}


def error_page(
    status: int, message: str | None = None, title: str | None = None, back: str | None = None
) -> ResponseReturnValue:
    """A Dutch error page; `back` links to the page the person came from (a run's page)."""
    default_title, default_message = _PAGES.get(status, _PAGES[400])
    page = render_template(
        "error.html", title=title or default_title, message=message or default_message, back=back
    )
    return page, status


def install(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(_: CSRFError) -> ResponseReturnValue:
        # Flask-WTF says 400; a request without the page's token is refused: 403.
        return error_page(
            403,
            "Dit formulier is verlopen of kwam niet van deze pagina. Er is niets veranderd. "
            "Ga terug, laad de pagina opnieuw en probeer het nog eens.",
            "Formulier verlopen",
        )

    @app.errorhandler(NotAllowed)
    def _not_allowed(exc: NotAllowed) -> ResponseReturnValue:
        return error_page(403, dutch(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        if status not in _PAGES:
            return exc
        return error_page(status)
