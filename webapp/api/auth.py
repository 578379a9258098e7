"""Bearer-token authentication of camera devices: a token acts for exactly one project."""

from __future__ import annotations

import datetime as dt
import functools

from flask import g, jsonify, request
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken
from webapp.models.accounts import TOKEN_ROLES, token_digest

#: How stale a token's ``last_used_at`` may get before a request rewrites it (the settings page
#: shows it to the minute). Writing it on every request made each one commit and wait on the
#: token's row lock: a camera polling its capture's status at 8 requests in flight went from
#: ~15 ms to ~180 ms a request on PostgreSQL (bench/scale.py, load stage).
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def error(status: int, message: str, **extra):
    """A JSON error response: ``{"error": message, ...}`` with ``status``."""
    response = jsonify(error=message, **extra)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sitetwin"'
    return response


def token_required(view=None, *, role: str = "camera"):
    """Resolve ``Authorization: Bearer <token>`` to ``g.project_id``: 401 when missing or wrong,
    403 when the token's role is below ``role`` (a camera token cannot upload a model)."""
    if view is None:
        return functools.partial(token_required, role=role)

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return error(401, "missing bearer token")
        token = db.session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(header[7:].strip())))
        if token is None or token.revoked_at is not None:
            return error(401, "invalid or revoked token")
        if TOKEN_ROLES.index(token.role) < TOKEN_ROLES.index(role):
            return error(403, f"this needs a {role} token; {token.name!r} is a {token.role} token")
        now = dt.datetime.now(dt.UTC)
        last = token.last_used_at
        if last is None or now - (last if last.tzinfo else last.replace(tzinfo=dt.UTC)) >= LAST_USED_RESOLUTION:
            token.last_used_at = now
            db.session.commit()
        g.project_id = token.project_id
        return view(*args, **kwargs)

    return wrapped
