"""Bearer-token authentication of camera devices: a token acts for exactly one project."""

from __future__ import annotations

import datetime as dt
import functools

from flask import g, jsonify, request
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken
from webapp.models.accounts import TOKEN_ROLES, token_digest


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
        token.last_used_at = dt.datetime.now(dt.UTC)
        db.session.commit()
        g.project_id = token.project_id
        return view(*args, **kwargs)

    return wrapped
