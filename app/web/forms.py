"""The site's forms (Flask-WTF): the account forms and the organisers' forms. Each checks what a browser can be
told at once (required, lengths, the two passwords agree); the rules that need the database or belong to the use
case (the password rule, a taken name, an unknown user) come back from app/usecases and are shown next to their
field the same way.

CSRF: CSRFProtect checks every POST of the site before its view runs (app/web/__init__.py); these forms
render the same hidden field, named `csrf`, with the `csrf_field()` macro in templates/_forms.html.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, EqualTo, InputRequired, Length, NumberRange

from app.usecases.accounts import MAX_LENGTH, PASSWORD_RULE
from app.usecases.api_tokens import DEFAULT_DAYS, MAX_DAYS, MAX_NAME
from app.usecases.users import MAX_EMAIL

REQUIRED = "Fill this in."


class Form(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type information: FlaskForm is Any to mypy
    """The site's forms: Flask-WTF's, bound to the request's form data."""


def _password(label: str, description: str = "") -> PasswordField:
    return PasswordField(label, validators=[InputRequired(REQUIRED), Length(max=MAX_LENGTH)], description=description,
                         render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH})


def _repeat(of: str) -> PasswordField:
    return PasswordField("The same password again",
                         validators=[InputRequired(REQUIRED), EqualTo(of, "The two passwords differ.")],
                         render_kw={"autocomplete": "new-password"})


class SignUpForm(Form):
    username = StringField("Username", validators=[InputRequired(REQUIRED), Length(max=80)],
                           description="2 to 80 letters, digits, '_', '.' or '-'. Shown on leaderboards.",
                           render_kw={"autocomplete": "username", "maxlength": 80})
    email = EmailField("Email address", validators=[InputRequired(REQUIRED), Length(max=MAX_EMAIL)],
                       description="For password resets. Never shown to anyone.",
                       render_kw={"autocomplete": "email"})
    password = _password("Password", PASSWORD_RULE)
    confirm = _repeat("password")


class SignInForm(Form):
    login = StringField("Username or email address", validators=[InputRequired(REQUIRED), Length(max=254)],
                        render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[InputRequired(REQUIRED), Length(max=MAX_LENGTH)],
                             render_kw={"autocomplete": "current-password"})


class TokenSignInForm(Form):
    token = PasswordField("API token", validators=[InputRequired(REQUIRED), Length(max=200)],
                          render_kw={"autocomplete": "off"})


class ChangePasswordForm(Form):
    current_password = PasswordField("Current password", validators=[Length(max=MAX_LENGTH)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = _password("New password", PASSWORD_RULE)
    confirm = _repeat("new_password")


class ResetRequestForm(Form):
    email = EmailField("Email address of your account", validators=[InputRequired(REQUIRED),
                                                                     Length(max=MAX_EMAIL)],
                       render_kw={"autocomplete": "email"})


class ResetPasswordForm(Form):
    password = _password("New password", PASSWORD_RULE)
    confirm = _repeat("password")


class NewTokenForm(Form):
    name = StringField("Name", validators=[InputRequired(REQUIRED), Length(max=MAX_NAME)],
                       description="What it is for, e.g. 'laptop' or 'CI'.", render_kw={"maxlength": MAX_NAME})
    days = IntegerField("Expires after (days)", default=DEFAULT_DAYS,
                        validators=[InputRequired("Give a number of days."),
                                    NumberRange(1, MAX_DAYS, f"From 1 to {MAX_DAYS} days.")],
                        description=f"At most {MAX_DAYS} days.",
                        render_kw={"min": 1, "max": MAX_DAYS})


# ---- the organisers' page (app/web/organisers.py) ----------------------------------------------------------

DECISIONS = ("accept", "decline")
CHOOSE_DECISION = "Choose accept or decline."


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class AddOrganiserForm(Form):
    username = StringField("Username", validators=[DataRequired(REQUIRED), Length(max=80)], filters=[_strip],
                           description="Their username on this site: they need an account first.",
                           render_kw={"autocomplete": "off", "maxlength": 80, "spellcheck": "false"})


class DecisionForm(Form):
    """A request to join: the Accept or Decline button's value."""

    decision = StringField(validators=[DataRequired(CHOOSE_DECISION), AnyOf(DECISIONS, CHOOSE_DECISION)])
