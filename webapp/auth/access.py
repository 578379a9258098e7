"""Who may see and change what: a user's role on one project (viewer < manager < admin).

A project the user has no role on does not exist for them (404, so its name does not leak);
a role too low for the action is 403.
"""

from __future__ import annotations

import functools

from flask import abort, g
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.auth import sessions
from webapp.extensions import db, login_manager
from webapp.models import Membership, Project, User
from webapp.models.accounts import ROLES

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to see this page."
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The user of a live sign-in session (the cookie carries its random token; see auth/sessions)."""
    return sessions.load(token)


def role_on(user: User, project_id: int) -> str | None:
    return db.session.scalar(
        select(Membership.role).where(Membership.user_id == user.id, Membership.project_id == project_id)
    )


def can(role: str | None, needed: str) -> bool:
    """Whether ``role`` includes the rights of ``needed``."""
    return role is not None and ROLES.index(role) >= ROLES.index(needed)


def project_view(needed: str = "viewer"):
    """Decorate a view taking ``project_id``: sign-in, ``g.project`` and ``g.role`` loaded, role checked."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(project_id: int, *args, **kwargs):
            project = db.session.get(Project, project_id) if 0 < project_id < 2**31 else None
            role = role_on(current_user, project_id) if project is not None else None
            if role is None:
                abort(404)
            if not can(role, needed):
                abort(403)
            g.project, g.role = project, role
            return view(project_id, *args, **kwargs)

        return wrapped

    return decorator
