"""The Flow keys page: bearer tokens for the flow endpoint, made (shown once), listed, revoked."""

from flask import abort, flash, redirect, render_template, url_for

from .. import tokens
from ..extensions import db
from ..models import FlowToken
from . import bp
from .forms import ActionForm, TokenForm


def render_tokens(form: TokenForm, new_token: str | None = None, status: int = 200):
    page = render_template(
        "admin/tokens.html",
        rows=tokens.all_tokens(),
        form=form,
        action=ActionForm(),
        new_token=new_token,
        endpoint=url_for("api.chat_completions", _external=True),
    )
    # The page that shows a new token is never stored by the browser or a proxy.
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/tokens")
def tokens_page():
    return render_tokens(TokenForm())


@bp.post("/tokens")
def create_token():
    form = TokenForm()
    if not form.validate_on_submit():
        return render_tokens(form, status=400)
    try:
        _, token = tokens.create(form.name.data)
    except tokens.TokenError as exc:
        form.name.errors.append(str(exc))
        return render_tokens(form, status=400)
    # Shown in this answer only: a flash message would travel in the (signed, readable) cookie.
    return render_tokens(TokenForm(formdata=None), new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    row = db.get_or_404(FlowToken, token_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    tokens.revoke(row.name)
    flash(f"Token '{row.name}' revoked: flows using it now get HTTP 401.", "success")
    return redirect(url_for("admin.tokens_page"))
