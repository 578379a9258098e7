"""Security headers on every response (Flask-Talisman) and HTTPS forcing (SITETWIN_FORCE_HTTPS).

The Content-Security-Policy allows scripts from this site only (no inline script, no eval: page
scripts are files in static/js and static/dist); inline styles stay allowed (badges, bars and the
plan's SVG colour elements with ``style``). No page may be framed (clickjacking): ``frame-ancestors
'none'`` and ``X-Frame-Options: DENY``. Responses carry ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: strict-origin-when-cross-origin``; HSTS on HTTPS requests.
"""

from __future__ import annotations

from flask import Flask, redirect, request
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],  # three.js loads a GLB's embedded textures as blob: URLs
    "connect-src": "'self'",
    "worker-src": ["'self'", "blob:"],
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

#: Endpoints a load balancer or container health check calls over plain HTTP inside the network.
PLAIN_HTTP_BLUEPRINTS = frozenset({"health"})


def _redirect_to_https():
    if request.is_secure or request.headers.get("X-Forwarded-Proto", "http") == "https":
        return None
    if request.blueprint in PLAIN_HTTP_BLUEPRINTS:
        return None
    # 308 keeps the method and body of a POST; a GET is told to come back over HTTPS for good.
    return redirect(request.url.replace("http://", "https://", 1),
                    code=301 if request.method in {"GET", "HEAD"} else 308)


def init_app(app: Flask) -> None:
    """Headers on every response; a redirect to HTTPS first when SITETWIN_FORCE_HTTPS is on. Behind
    SITETWIN_PROXY_COUNT proxies, the client's address and scheme come from their X-Forwarded- headers."""
    if app.config["SITETWIN_PROXY_COUNT"] > 0:
        hops = int(app.config["SITETWIN_PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    if app.config["SITETWIN_FORCE_HTTPS"]:
        app.before_request(_redirect_to_https)
    Talisman(
        app,
        force_https=False,  # done above, with the health checks left on plain HTTP
        frame_options="DENY",
        content_security_policy=CONTENT_SECURITY_POLICY,
        referrer_policy="strict-origin-when-cross-origin",
        strict_transport_security=True,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
        x_xss_protection=False,  # obsolete; modern browsers rely on the CSP
    )
