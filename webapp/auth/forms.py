"""Flask-WTF forms of sign-in (each carries its CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in")


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=200)])
    new = PasswordField("New password", validators=[DataRequired(), Length(min=8, max=200)])
    confirm = PasswordField("New password again",
                            validators=[DataRequired(), EqualTo("new", message="The new passwords differ.")])
