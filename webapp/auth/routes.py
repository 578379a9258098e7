"""Sign in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from sqlalchemy import func, select

from webapp.auth import access, bp  # noqa: F401  (access registers the user loader)
from webapp.auth.forms import LoginForm
from webapp.extensions import db
from webapp.models import User


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an attacker's link must not bounce a signed-in user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.projects")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(
            select(User).where(func.lower(User.email) == form.email.data.strip().lower())
        )
        if user is not None and user.active and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong email or password.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))
