"""The settings page of a project: alert rules, recipients, camera devices (API tokens), and the
manager's uploads of a new model revision or schedule. Viewers may look; managers change."""

from __future__ import annotations

import datetime as dt

from flask import current_app, flash, g, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.auth.access import project_view
from webapp.dashboard import bp
from webapp.dashboard.forms import (
    RULE_LABELS,
    ModelUploadForm,
    RecipientForm,
    RuleForm,
    ScheduleUploadForm,
    ToggleForm,
    TokenForm,
)
from webapp.extensions import db
from webapp.limits import upload_limit
from webapp.models import AlertRule, ApiToken, ModelRevision, Recipient, ScheduleVersion
from webapp.services import project_files


def _settings_page(**forms):
    project_id = g.project.id
    context = {
        "project": g.project,
        "rule_labels": RULE_LABELS,
        "toggle": ToggleForm(),
        "rule_form": forms.get("rule_form") or RuleForm(),
        "recipient_form": forms.get("recipient_form") or RecipientForm(),
        "token_form": forms.get("token_form") or TokenForm(),
        "model_form": forms.get("model_form") or ModelUploadForm(),
        "schedule_form": forms.get("schedule_form") or ScheduleUploadForm(),
        "new_secret": forms.get("new_secret"),
        "rules": db.session.scalars(
            select(AlertRule).where(AlertRule.project_id == project_id).order_by(AlertRule.id)
        ).all(),
        "recipients": db.session.scalars(
            select(Recipient).where(Recipient.project_id == project_id).order_by(Recipient.id)
        ).all(),
        "tokens": db.session.scalars(
            select(ApiToken).where(ApiToken.project_id == project_id).order_by(ApiToken.id)
        ).all(),
        "revisions": db.session.scalars(
            select(ModelRevision)
            .where(ModelRevision.project_id == project_id)
            .order_by(ModelRevision.number.desc())
        ).all(),
        "schedules": db.session.scalars(
            select(ScheduleVersion)
            .where(ScheduleVersion.project_id == project_id)
            .order_by(ScheduleVersion.number.desc())
        ).all(),
    }
    status = 400 if any(f is not None and f.errors for f in forms.values() if hasattr(f, "errors")) else 200
    return render_template("dashboard/settings.html", **context), status


def _acted_on(model, row_id: int):
    """The project's row of ``model`` a one-button form acts on, when its CSRF token holds; else None."""
    row = db.session.get(model, row_id) if 0 < row_id < 2**31 else None
    if ToggleForm().validate_on_submit() and row is not None and row.project_id == g.project.id:
        return row
    return None


def _back():
    return redirect(url_for("dashboard.settings", project_id=g.project.id), 303)


@bp.get("/projects/<int:project_id>/settings")
@project_view()
def settings(project_id: int):
    return _settings_page()


@bp.post("/projects/<int:project_id>/settings/rules")
@project_view("manager")
def add_rule(project_id: int):
    form = RuleForm()
    if not form.validate_on_submit():
        return _settings_page(rule_form=form)
    db.session.add(
        AlertRule(
            project_id=project_id,
            kind=form.kind.data,
            threshold=float(form.threshold.data or 0),
            milestone=form.milestone.data,
            trade=form.trade.data or None,
            storey=form.storey.data or None,
        )
    )
    db.session.commit()
    flash("Alert rule added; the next daily check applies it.", "info")
    return _back()


@bp.post("/projects/<int:project_id>/settings/rules/<int:rule_id>/toggle")
@project_view("manager")
def toggle_rule(project_id: int, rule_id: int):
    if rule := _acted_on(AlertRule, rule_id):
        rule.enabled = not rule.enabled
        db.session.commit()
    return _back()


@bp.post("/projects/<int:project_id>/settings/recipients")
@project_view("manager")
def add_recipient(project_id: int):
    form = RecipientForm()
    if not form.validate_on_submit():
        return _settings_page(recipient_form=form)
    db.session.add(
        Recipient(
            project_id=project_id,
            name=form.name.data or None,
            email=form.email.data or None,
            phone=form.phone.data or None,
            trade=form.trade.data or None,
            storey=form.storey.data or None,
        )
    )
    try:
        db.session.commit()
    except IntegrityError:  # the same email and phone again: one subscription each (a 400, not a 500)
        db.session.rollback()
        form.email.errors = [*form.email.errors, "this email and mobile number are already a recipient"]
        return _settings_page(recipient_form=form)
    flash("Recipient added.", "info")
    return _back()


@bp.post("/projects/<int:project_id>/settings/recipients/<int:recipient_id>/toggle")
@project_view("manager")
def toggle_recipient(project_id: int, recipient_id: int):
    if recipient := _acted_on(Recipient, recipient_id):
        recipient.active = not recipient.active
        db.session.commit()
    return _back()


@bp.post("/projects/<int:project_id>/settings/tokens")
@project_view("manager")
def add_token(project_id: int):
    form = TokenForm()
    if not form.validate_on_submit():
        return _settings_page(token_form=form)
    token, secret = ApiToken.issue(project_id, form.name.data.strip(), form.role.data)
    db.session.add(token)
    db.session.commit()
    return _settings_page(new_secret=(token.name, secret))  # shown once, never stored


@bp.post("/projects/<int:project_id>/settings/tokens/<int:token_id>/revoke")
@project_view("manager")
def revoke_token(project_id: int, token_id: int):
    if token := _acted_on(ApiToken, token_id):
        token.revoked_at = token.revoked_at or dt.datetime.now(dt.UTC)
        db.session.commit()
        flash(f"Token of {token.name} revoked: that device can no longer upload.", "info")
    return _back()


@bp.post("/projects/<int:project_id>/settings/model")
@project_view("manager")
@upload_limit("SITETWIN_MAX_MODEL_BYTES")
def upload_model(project_id: int):
    form = ModelUploadForm()
    if not form.validate_on_submit():
        return _settings_page(model_form=form)
    try:
        result = project_files.upload_model(db.session, current_app.config, g.project, form.file.data)
    except project_files.ProjectFileError as error:
        form.file.errors = error.problems
        return _settings_page(model_form=form)
    flash(f"Model revision {result.revision}: {result.elements} elements, "
          f"{result.with_geometry} with geometry.", "info")
    return _back()


@bp.post("/projects/<int:project_id>/settings/schedule")
@project_view("manager")
@upload_limit("SITETWIN_MAX_MODEL_BYTES")
def upload_schedule(project_id: int):
    form = ScheduleUploadForm()
    if not form.validate_on_submit():
        return _settings_page(schedule_form=form)
    try:
        result = project_files.upload_schedule(db.session, current_app.config, g.project, form.file.data,
                                               lenient=form.lenient.data)
    except project_files.ProjectFileError as error:
        form.file.errors = [str(error), *error.problems[:20]]
        return _settings_page(schedule_form=form)
    flash(f"Schedule version {result.version}: {result.tasks} tasks.", "info")
    return _back()
