"""Account pages: sign-up, sign-in (password, or an API token), sign-out, password change and reset, tokens.

Sessions are Flask-Login's. A session's id is `user:version` (or `user:version:token` when it was started with
an API token): the user loader (app/web/__init__.py) finds the session ended when the user's session version
has moved on (password changed or reset) or the token is revoked or expired.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from app.errors import InvalidFields, RateLimited, ServiceError
from app.extensions import db_session, podium
from app.models import User
from app.models._types import utcnow
from app.usecases.accounts import (
    InvalidResetLink,
    WrongCredentials,
    change_password,
    request_password_reset,
    reset_password,
    sign_in,
    sign_up,
    sign_up_problems,
    user_for_reset_token,
)
from app.usecases.api_tokens import active_token, create_token, list_tokens, record_use, revoke_token, use_to_record
from app.usecases.mail import mailer_for
from app.web import _logged_in_user, _safe_next, web
from app.web.forms import (
    ChangePasswordForm,
    Form,
    NewTokenForm,
    ResetPasswordForm,
    ResetRequestForm,
    SignInForm,
    SignUpForm,
    TokenSignInForm,
)
from app.web.sessions import SessionUser, signed_in

NO_STORE = {"Cache-Control": "no-store"}
SECRET_IN_ADDRESS = {**NO_STORE, "Referrer-Policy": "no-referrer"}
RESET_SENT = ("If an account has that address, a link to choose a new password is on its way to it. The link "
              "works once, within an hour.")


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _show_problems(form: Form, problems: InvalidFields) -> None:
    """Put each problem next to its field (a problem without a field goes to the form's own errors)."""
    for name, message in problems.problems.items():
        field = form._fields.get(name)
        if field is None:
            form.form_errors.append(message)
        elif not field.errors:  # the form's own check said it first
            field.errors = [message]


def _start_session(user: User, token_id: int | None = None) -> None:
    login_user(SessionUser.of(user, token_id))


@web.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    form = SignUpForm()
    if form.is_submitted():
        entered = {"username": form.username.data or "", "email": form.email.data or "",
                   "password": form.password.data or ""}
        try:
            with db_session() as db:
                if not form.validate():  # say everything that is wrong at once, not the form's part first
                    raise InvalidFields(sign_up_problems(db, **entered))
                user = sign_up(db, **entered)
                _start_session(user)
        except InvalidFields as problems:
            _show_problems(form, problems)
        else:
            flash(f"Welcome, {user.username}. You are signed in.")
            return redirect(_safe_next(request.args.get("next")))
    return render_template("signup.html", form=form), 400 if form.errors else 200


@web.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form, token_form = SignInForm(), TokenSignInForm()
    status = 200
    if request.method == "POST" and "token" in request.form:
        status = 400
        if token_form.validate_on_submit():
            with db_session() as db:
                found = active_token(db, (token_form.token.data or "").strip())
                if found is not None:
                    _start_session(found.user, found.id)
                    if use_to_record(found):
                        record_use(db, found.id)
                    return redirect(_safe_next(request.args.get("next")))
            flash("That API token is not valid (or was revoked, or has expired). Sign in with your password, or "
                  "ask an organiser for a token (podium user create NAME).")
            status = 401
    elif form.validate_on_submit():
        try:
            with db_session() as db:
                user = sign_in(db, form.login.data or "", form.password.data or "", address=_client_address())
                _start_session(user)
            return redirect(_safe_next(request.args.get("next")))
        except RateLimited as exc:
            form.form_errors.append(str(exc))
            status = 429
        except WrongCredentials as exc:
            form.form_errors.append(str(exc))
            status = 401
    elif form.errors:
        status = 400
    return render_template("login.html", form=form, token_form=token_form), status


@web.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    return redirect(url_for("web.index"))


@web.get("/account")
@signed_in
def account() -> ResponseReturnValue:
    return _account_page(ChangePasswordForm())


def _account_page(form: ChangePasswordForm, status: int = 200) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        assert user is not None  # @signed_in
        return render_template("account.html", form=form, user=user, has_password=bool(user.password_hash),
                               token_session=current_user.token_id is not None), status


@web.post("/account/password")
@signed_in
def password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _account_page(form, 400)
    try:
        with db_session() as db:
            user = _logged_in_user(db)
            assert user is not None
            change_password(db, user, current=form.current_password.data or "", new=form.new_password.data or "",
                            address=_client_address())
            _start_session(user, current_user.token_id)  # this session goes on; every other one has ended
    except InvalidFields as problems:
        _show_problems(form, problems)
        return _account_page(form, 400)
    except RateLimited as exc:
        form.form_errors.append(str(exc))
        return _account_page(form, 429)
    flash("Your password was changed. You were signed out everywhere else.")
    return redirect(url_for("web.account"))


@web.route("/password-reset", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    form = ResetRequestForm()
    if form.validate_on_submit():
        settings = podium().resources.settings
        with db_session() as db:
            request_password_reset(
                db, form.email.data or "", secret_key=settings.secret_key, mailer=mailer_for(settings),
                link=lambda token: settings.public_url + url_for("web.reset", token=token),
                client_address=_client_address())
        flash(RESET_SENT)
        return redirect(url_for("web.login"))
    return render_template("forgot_password.html", form=form), 400 if form.errors else 200


@web.route("/password-reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> ResponseReturnValue:
    settings = podium().resources.settings
    form = ResetPasswordForm()
    with db_session() as db:
        try:
            user = user_for_reset_token(db, settings.secret_key, token)
        except InvalidResetLink as exc:
            return render_template("forgot_password.html", form=ResetRequestForm(formdata=None),
                                   link_problem=str(exc)), 400, SECRET_IN_ADDRESS
        if form.validate_on_submit():
            try:
                reset_password(db, settings.secret_key, token, form.password.data or "")
            except InvalidFields as problems:
                _show_problems(form, problems)
            else:
                logout_user()
                flash("Your password was reset, and every session of your account was ended. Sign in with the new "
                      "password.")
                return redirect(url_for("web.login"))
        return render_template("reset_password.html", form=form, username=user.username), \
            400 if form.errors else 200, SECRET_IN_ADDRESS


@web.route("/tokens", methods=["GET", "POST"])
@signed_in
def tokens() -> ResponseReturnValue:
    form = NewTokenForm()
    created: dict[str, Any] | None = None
    status = 200
    with db_session() as db:
        user = _logged_in_user(db)
        assert user is not None
        if form.validate_on_submit():
            try:
                token, secret = create_token(db, user, form.name.data or "", days=form.days.data or 0)
                created = {"name": token.name, "secret": secret, "expires_at": token.expires_at}
                form = NewTokenForm(formdata=None)
                status = 201
            except InvalidFields as problems:
                _show_problems(form, problems)
                status = 400
            except ServiceError as exc:  # too many active tokens
                form.form_errors.append(str(exc))
                status = exc.status_code
        elif form.errors:
            status = 400
        mine = list_tokens(db, user)
        return render_template("tokens.html", form=form, tokens=mine, created=created, now=utcnow(),
                               current_token_id=current_user.token_id), status, NO_STORE


@web.post("/tokens/<int:token_id>/revoke")
@signed_in
def revoke(token_id: int) -> ResponseReturnValue:
    with db_session() as db:
        user = _logged_in_user(db)
        assert user is not None
        revoked = revoke_token(db, user, token_id)
        name = revoked.name
    flash(f"The token {name!r} was revoked: it no longer works, and sessions started with it have ended.")
    return redirect(url_for("web.tokens"))
