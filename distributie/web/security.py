"""Security headers on every response: a strict Content-Security-Policy (no inline script, no
framing), same-origin referrers, and no caching of anything but the static files."""

from __future__ import annotations

from flask import Flask, Response, request

# Everything comes from distributie itself; no inline script or style, no CDN. `frame-src
# 'self'` is for the sandboxed HTML preview (which sends its own, stricter policy, see
# PREVIEW_POLICY); `data:` images for inline SVG icons.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


# The HTML part of a message, shown in a sandboxed frame of the preview page: no script at all,
# no request anywhere (its images would be inline), and only this site may frame it.
PREVIEW_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "form-action 'none'",
        "base-uri 'none'",
        "sandbox",
        "frame-ancestors 'self'",
    ]
)


def install(app: Flask, https: bool) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")  # the HTML preview allows its own page
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if https:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if request.endpoint != "static":
            # Pages show names and addresses of people: nothing may be kept in a cache.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response
