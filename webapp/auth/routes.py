"""Sign in and out, and change one's password (which ends every other session)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from webapp.auth import access, bp, passwords, sessions  # noqa: F401  (access registers the user loader)
from webapp.auth.forms import LoginForm, PasswordForm
from webapp.auth.throttle import message, throttle
from webapp.extensions import db
from webapp.models import User


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an attacker's link must not bounce a signed-in user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.projects")


def _too_many(template: str, form, refusal):
    flash(message(refusal), "error")
    status = 503 if refusal.scope == "unavailable" else 429
    response = current_app.make_response((render_template(template, form=form), status))
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        refusal = throttle().attempt(email, request.remote_addr or "")
        if refusal is not None:
            return _too_many("auth/login.html", form, refusal)
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        if passwords.verify(user, form.password.data):
            throttle().succeeded(email)
            sessions.start(user, remember=bool(form.remember.data))
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong email or password.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    sessions.end(current_user.session_token)
    db.session.commit()
    logout_user()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change one's own password: every session of the user ends, this browser gets a new one."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        refusal = throttle().attempt(user.email, request.remote_addr or "")
        if refusal is not None:
            return _too_many("auth/password.html", form, refusal)
        if not passwords.verify(user, form.current.data):
            form.current.errors.append("This is not your current password.")
            return render_template("auth/password.html", form=form), 400
        throttle().succeeded(user.email)
        remember = bool(request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")))
        user.set_password(form.new.data)
        sessions.end_all(user.id)
        sessions.start(user, remember=remember)
        db.session.commit()
        login_user(user, remember=remember)
        flash("Password changed; every other session is signed out.", "info")
        return redirect(url_for("dashboard.projects"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status
