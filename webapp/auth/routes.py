"""Sign-in with throttling, sign-out, and the change-password page."""

from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import settings
from ..extensions import db, login_manager
from ..models import User
from . import bp, sessions, throttle
from .forms import ChangePasswordForm, EndSessionForm, LoginForm


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return sessions.load(user_id)


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host, scheme or protocol-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def first_page() -> str:
    """Where a sign-in lands: the asked-for page, except on an install with no key saved,
    where the dashboard opens on Get started: nothing else works before it."""
    if not settings.is_set("openrouter_api_key"):
        return url_for("admin.dashboard")
    return safe_next(request.args.get("next")) or url_for("admin.dashboard")


@bp.get("/")
def index():
    return redirect(url_for("admin.dashboard"))


def try_again_in(wait: int) -> str:
    minutes = -(-wait // 60)
    return f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        username, address = form.username.data.strip(), request.remote_addr or "unknown"
        if wait := throttle.claim_sign_in(username, address):
            flash(f"Too many failed sign-in attempts. {try_again_in(wait)}", "error")
            page = render_template("auth/login.html", form=form)
            return page, 429, {"Retry-After": str(wait)}
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            throttle.check_unknown_user(form.password.data)
        elif user.check_password(form.password.data):
            throttle.signed_in(username, address)
            sessions.start(user)
            return redirect(first_page())
        flash("Wrong username or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    sessions.end_current()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if wait := throttle.claim_password_form(current_user.id):
            form.current_password.errors.append(f"Too many wrong passwords. {try_again_in(wait)}")
            return account_page(form), 429, {"Retry-After": str(wait)}
        if not current_user.check_password(form.current_password.data):
            form.current_password.errors.append("That is not your current password.")
        else:
            throttle.password_form_passed(current_user.id)
            current_user.set_password(form.new_password.data)
            db.session.commit()
            ended = sessions.end_others(current_user)
            flash(f"Password changed. Signed out elsewhere: {ended} session(s).", "success")
            return redirect(url_for("auth.change_password"))
    return account_page(form)


def account_page(form: ChangePasswordForm):
    """The account page: the password form and the admin's signed-in sessions."""
    this = sessions.current()
    return render_template(
        "auth/change_password.html",
        form=form,
        sessions=sessions.active(current_user),
        this_id=this.id if this else None,
        end_form=EndSessionForm(),
    )


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    if not EndSessionForm().validate_on_submit():
        abort(400)
    this = sessions.current()
    if this is not None and this.id == session_id:
        abort(400, "Sign out to end this session.")
    if not sessions.end(current_user, session_id):
        abort(404)
    flash("That session is signed out.", "success")
    return redirect(url_for("auth.change_password"))
