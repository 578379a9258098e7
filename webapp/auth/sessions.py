"""Server-side sign-in sessions: a random token per sign-in, kept as a SHA-256 in ``user_sessions``.

Flask-Login stores the token (``User.get_id``) in the signed session cookie and in the remember-me
cookie; the user loader accepts it only while its row exists and has not lapsed. Logout deletes the
row, so a copied cookie stops working; a password change and ``sitetwin user sign-out`` delete every
row of the user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import current_app
from sqlalchemy import delete, select

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.models.base import utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User, remember: bool) -> str:
    """Record a new sign-in of ``user`` (lasting the remember-me duration, or SITETWIN_SESSION_HOURS
    hours) and make it the user's current one; returns its token. The caller commits."""
    now = utcnow()
    lifetime = (current_app.config["REMEMBER_COOKIE_DURATION"] if remember
                else dt.timedelta(hours=float(current_app.config["SITETWIN_SESSION_HOURS"])))
    lapsed = delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now)
    db.session.execute(lapsed)
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, digest=_digest(token), remember=remember, created_at=now,
                               expires_at=now + lifetime))
    user.session_token = token
    return token


def load(token: str) -> User | None:
    """The active user whose unexpired session has this token, else None."""
    if not token or len(token) > 128:
        return None
    user = db.session.scalar(  # one query per request: the session row and its user together
        select(User).join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.digest == _digest(token), UserSession.expires_at > utcnow())
    )
    if user is None or not user.active:
        return None
    user.session_token = token
    return user


def end(token: str | None) -> None:
    """Delete the session with this token (logout). The caller commits."""
    if token:
        db.session.execute(delete(UserSession).where(UserSession.digest == _digest(token)))


def end_all(user_id: int) -> int:
    """Delete every session of the user; returns how many there were. The caller commits."""
    return db.session.execute(delete(UserSession).where(UserSession.user_id == user_id)).rowcount or 0
