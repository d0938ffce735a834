"""The login and logout forms (Flask-WTF: each carries a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    """User name + password; field ids ``username``/``password`` (the browser tests use them)."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField("Login")


class LogoutForm(FlaskForm):
    """Only a CSRF token: logging out is a POST, so a third-party page cannot force it."""

    submit = SubmitField("Logout")
