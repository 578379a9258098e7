"""Flask-WTF forms of the settings page (every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, DecimalField, EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, Regexp

from webapp.models.alerts import RULE_KINDS

RULE_LABELS = {
    "slip_days": "Slip of at least N working days",
    "behind_pct": "Behind plan by N percentage points",
    "past_finish": "Past its planned finish and not complete",
    "forecast_beyond": "Forecast finish after a milestone",
}


class RuleForm(FlaskForm):
    kind = SelectField("Condition", choices=[SelectChoice(k, RULE_LABELS[k]) for k in RULE_KINDS])
    threshold = DecimalField("N", default=0, validators=[Optional(), NumberRange(min=0, max=10000)])
    milestone = DateField("Milestone", validators=[Optional()])
    trade = StringField("Only trade", validators=[Optional(), Length(max=200)])
    storey = StringField("Only storey", validators=[Optional(), Length(max=200)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and self.kind.data == "forecast_beyond" and not self.milestone.data:
            self.milestone.errors = ["a forecast rule needs a milestone date"]
            return False
        return ok


class RecipientForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    email = EmailField("Email", validators=[Optional(), Email(check_deliverability=False), Length(max=320)])
    phone = StringField(
        "Mobile (E.164)",
        validators=[Optional(), Regexp(r"^\+[1-9]\d{6,14}$", message="use E.164, e.g. +447700900123")],
    )
    trade = StringField("Only trade", validators=[Optional(), Length(max=200)])
    storey = StringField("Only storey", validators=[Optional(), Length(max=200)])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not self.phone.data and not self.email.data:
            self.phone.errors = ["give an email address, a mobile number, or both"]
            return False
        return ok


class TokenForm(FlaskForm):
    name = StringField("Device", validators=[DataRequired(), Length(max=200)])
    role = SelectField("Role", choices=[SelectChoice("camera", "camera: uploads captures"),
                                        SelectChoice("manager", "manager: also models and schedules")])


class ModelUploadForm(FlaskForm):
    file = FileField("IFC model", validators=[FileRequired(), FileAllowed(["ifc"], "an .ifc file")])


class ScheduleUploadForm(FlaskForm):
    file = FileField(
        "Schedule",
        validators=[
            FileRequired(),
            FileAllowed(
                ["ifc", "xml", "xer", "csv"], "IFC 4D (.ifc), MS Project XML (.xml), Primavera (.xer) or CSV"
            ),
        ],
    )
    lenient = BooleanField("Skip tasks with problems instead of refusing the file")


class ToggleForm(FlaskForm):
    """A bare form for the one-button actions (disable a rule, revoke a token): only its CSRF token."""
