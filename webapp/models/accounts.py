"""People and devices: users with a role per project, and per-project API tokens for cameras.

Passwords are stored as Werkzeug hashes; API tokens as the SHA-256 of a 256-bit random secret
(a secret that long needs no slow hash), shown once when created and revocable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.models.base import Base, utcnow

ROLES = ("viewer", "manager", "admin")  # each includes the rights of those before it


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[Optional[str]] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    #: The sign-in session this request runs under (set by :mod:`webapp.auth.sessions`, never stored).
    session_token = None

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: the sign-in session's random
        token, not the user id, so that ending the session (logout, password change) ends the cookie too."""
        if not self.session_token:
            raise RuntimeError("start a sign-in session (webapp.auth.sessions.start) before login_user")
        return self.session_token


class UserSession(Base):
    """One sign-in (one browser): found by the SHA-256 of its random token, deleted at logout, on a
    password change and by ``sitetwin user sign-out``; it lapses at ``expires_at``."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Membership(Base):
    """A user's role on one project."""

    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="viewer")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: What a token may do: a camera uploads captures; a manager token also uploads models and schedules.
TOKEN_ROLES = ("camera", "manager")


class ApiToken(Base):
    """A device's or an integration's token for one project, with a role (:data:`TOKEN_ROLES`)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(16), default="camera", server_default="camera")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))

    @classmethod
    def issue(cls, project_id: int, name: str, role: str = "camera") -> tuple[ApiToken, str]:
        """A new token row and its secret (shown once, never stored)."""
        if role not in TOKEN_ROLES:
            raise ValueError(f"token role {role!r} is not one of {', '.join(TOKEN_ROLES)}")
        secret = "st_" + secrets.token_urlsafe(32)
        token = cls(project_id=project_id, name=name, digest=token_digest(secret), prefix=secret[:10], role=role)
        return token, secret
