"""Commands about people and devices: users and API tokens."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from webapp.cli.common import emit, ensure_database, fail


@click.group("user")
def user_group() -> None:
    """Dashboard users."""


@user_group.command("create")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default=None)
@click.option("--project", "project_name", default=None, help="Give the user a role on this project.")
@click.option("--role", type=click.Choice(["viewer", "manager", "admin"]), default="viewer", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def user_create_command(email, password, name, project_name, role, as_json) -> None:
    """Create a user (with a hashed password), optionally with a role on a project."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Membership, User
    from webapp.services.twins import NotFound, get_project

    ensure_database()
    if len(password) < 8:
        fail("a password needs at least 8 characters")
    user = db.session.scalar(select(User).where(User.email == email.lower()))
    if user is None:
        user = User(email=email.lower(), name=name)
        db.session.add(user)
    user.set_password(password)
    db.session.flush()
    if project_name:
        try:
            project = get_project(db.session, project_name)
        except NotFound as error:
            fail(str(error))
        membership = db.session.get(Membership, (user.id, project.id)) or Membership(user_id=user.id,
                                                                                     project_id=project.id)
        membership.role = role
        db.session.add(membership)
    db.session.commit()
    emit({"id": user.id, "email": user.email, "project": project_name, "role": role if project_name else None},
         as_json, f"user {user.email}" + (f" is {role} on {project_name}" if project_name else ""))


def _user_by_email(email: str):
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import User

    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        fail(f"no user {email}")
    return user


@user_group.command("password")
@click.argument("email")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def user_password_command(email, password, as_json) -> None:
    """Set a user's password; every session of the user ends (each browser signs in again)."""
    from webapp.auth import sessions
    from webapp.extensions import db

    ensure_database()
    if len(password) < 8:
        fail("a password needs at least 8 characters")
    user = _user_by_email(email)
    user.set_password(password)
    ended = sessions.end_all(user.id)
    db.session.commit()
    emit({"id": user.id, "email": user.email, "sessions_ended": ended}, as_json,
         f"password of {user.email} changed; {ended} session(s) ended")


@user_group.command("sign-out")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def user_sign_out_command(email, as_json) -> None:
    """End every session of a user (a lost laptop, a copied cookie): remember-me cookies included."""
    from webapp.auth import sessions
    from webapp.extensions import db

    ensure_database()
    user = _user_by_email(email)
    ended = sessions.end_all(user.id)
    db.session.commit()
    emit({"id": user.id, "email": user.email, "sessions_ended": ended}, as_json,
         f"{ended} session(s) of {user.email} ended")


@click.group("token")
def token_group() -> None:
    """API tokens of camera devices and integrations (one project each)."""


@token_group.command("create")
@click.option("--project", "project_name", required=True)
@click.option("--name", required=True, help="The device, e.g. helmet-cam-07.")
@click.option("--role", type=click.Choice(["camera", "manager"]), default="camera", show_default=True,
              help="camera: uploads captures; manager: also uploads models and schedules.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def token_create_command(project_name, name, role, as_json) -> None:
    """Issue a token; its secret is shown once and stored only as a hash."""
    from webapp.extensions import db
    from webapp.models import ApiToken
    from webapp.services.twins import NotFound, get_project

    ensure_database()
    try:
        project = get_project(db.session, project_name)
    except NotFound as error:
        fail(str(error))
    token, secret = ApiToken.issue(project.id, name, role)
    db.session.add(token)
    db.session.commit()
    emit({"id": token.id, "project": project.name, "name": name, "role": role, "token": secret}, as_json,
         f"{role} token {token.id} for {name} on {project.name}: {secret}  (shown once)")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def token_revoke_command(token_id: int, as_json: bool) -> None:
    """Revoke a token: the device can no longer upload."""
    import datetime as dt

    from webapp.extensions import db
    from webapp.models import ApiToken

    ensure_database()
    token = db.session.get(ApiToken, token_id)
    if token is None:
        fail(f"no token {token_id}")
    token.revoked_at = token.revoked_at or dt.datetime.now(dt.UTC)
    db.session.commit()
    emit({"id": token.id, "revoked_at": token.revoked_at.isoformat()}, as_json, f"token {token.id} revoked")
