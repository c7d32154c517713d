"""Serving the web page with waitress: loopback only, unless it sits behind a reverse proxy."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from waitress.server import create_server

from distributie.errors import ConfigError, UsageError
from distributie.operations.session import Session
from distributie.settings import Settings, is_loopback
from distributie.web.app import FORM_OVERHEAD_BYTES, create_app

THREADS = 8
# waitress refuses a body beyond this many times the page's own limit with its own short
# answer; below it, the page answers a too large upload with a clear page of its own.
BODY_LIMIT_FACTOR = 4


def check_host(settings: Settings, host: str) -> None:
    """Refuse to listen beyond this machine unless DISTRIBUTIE_WEB_BASE_URL says where the
    HTTPS reverse proxy in front of it is."""
    if not is_loopback(host) and settings.web_base_url is None:
        raise ConfigError(
            f"--host {host} would open the web page to the network without HTTPS: run it "
            f"behind an HTTPS reverse proxy and set DISTRIBUTIE_WEB_BASE_URL to the address "
            f"people use (e.g. https://distributie.example.nl), or use --host 127.0.0.1"
        )


def serve(
    session: Session,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str, str], None] | None = None,
    threads: int = THREADS,
    workers_alive: Callable[[], bool] | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM. Once it listens, `on_ready(listening, public)` gets the
    address it listens on and the one people use (DISTRIBUTIE_WEB_BASE_URL, or the same)."""
    settings = session.settings
    check_host(settings, host)
    app = create_app(session, workers_alive=workers_alive)
    proxy: dict[str, Any] = {}
    if settings.web_base_url is not None:
        # Behind the reverse proxy every request comes from it: take the client's address
        # (for login throttling) and scheme from its headers. Nobody else must reach the port.
        proxy = {
            "trusted_proxy": "*",
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
        }
    try:
        server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="distributie",
            max_request_body_size=BODY_LIMIT_FACTOR
            * (settings.web_max_upload_bytes + FORM_OVERHEAD_BYTES),
            **proxy,
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    listening = getattr(server, "effective_listen", None) or [
        (server.effective_host, server.effective_port)  # type: ignore[union-attr]
    ]
    bound_host, bound_port = listening[0]
    shown_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    listening_url = f"http://{shown_host}:{bound_port}"
    if on_ready is not None:
        on_ready(listening_url, settings.web_base_url or listening_url)
    with sigterm_stops():
        server.run()


@contextmanager
def sigterm_stops() -> Iterator[None]:
    """SIGTERM ends `run()` as Ctrl-C does, so the caller's clean-up (the embedded workers and
    Redis) runs; `web` holds it for its whole life, so a second SIGTERM while it stops them
    cuts that short (workers killed) instead of leaving them behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
