"""The Flow keys page: bearer tokens for the flow endpoint, made (shown once), listed, revoked,
and each key's own limits set and lifted."""

from flask import abort, flash, redirect, render_template, request, url_for

from .. import tokens
from ..extensions import db
from ..models import FlowToken, utcnow
from ..money import flow_limits
from . import bp
from .forms import ActionForm, TokenForm


def render_tokens(form: TokenForm, new_token: str | None = None, status: int = 200, refused=None):
    """`refused`: (key id, the error, what was typed) of limits that were not saved."""
    page = render_template(
        "admin/tokens.html",
        rows=tokens.all_tokens(),
        refused=refused,
        now=utcnow(),
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


@bp.post("/tokens/<int:token_id>/limits")
def set_token_limits(token_id: int):
    row = _key_for_action(token_id)
    typed = {"per_hour": request.form.get("per_hour", ""), "cost": request.form.get("cost", "")}
    try:
        per_hour = flow_limits.per_hour_of(typed["per_hour"])
        cost = flow_limits.cost_of(typed["cost"])
    except ValueError as exc:  # shown beside the key's form, with what was typed kept
        return render_tokens(
            TokenForm(formdata=None), status=400, refused=(row.id, str(exc), typed)
        )
    flow_limits.set_limits(row, per_hour, cost)
    db.session.commit()
    flash(f"Limits of '{row.name}' saved: they apply from its next request.", "success")
    return redirect(url_for("admin.tokens_page", _anchor=f"limits-{row.id}"))


@bp.post("/tokens/<int:token_id>/lift")
def lift_token(token_id: int):
    row = _key_for_action(token_id)
    lifted = flow_limits.lift_key(row)
    db.session.commit()
    said = "are answered again, counted afresh" if lifted else "were not limited"
    flash(f"Flows with the key '{row.name}' {said}.", "success" if lifted else "info")
    return redirect(url_for("admin.tokens_page"))


def _key_for_action(token_id: int) -> FlowToken:
    row = db.get_or_404(FlowToken, token_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return row
