"""The Models page: the table with roles and catalog facts, Check model IDs, Add from catalog."""

from flask import abort, flash, redirect, render_template, request, url_for

from .. import catalog, catalog_data, checks, state
from ..extensions import db
from ..models import AiModel
from . import bp
from .forms import (
    ActionForm,
    AddFromCatalogForm,
    AddModelForm,
    CatalogSearchForm,
    LabelForm,
    ReplaceModelForm,
)


@bp.route("/models", methods=["GET", "POST"])
def models():
    form = AddModelForm()
    if form.validate_on_submit():
        try:
            row = catalog.add(form.model_id.data, form.label.data or "")
            flash(f"Added {row.model_id} as available.", "success")
            return redirect(url_for("admin.models"))
        except catalog.CatalogError as exc:
            form.model_id.errors = [str(exc)]
    search = CatalogSearchForm(request.args)
    known = catalog_data.listings()
    rows = catalog.all_models()
    in_table = {row.model_id for row in rows}
    found = catalog_data.search(known, search.q.data or "") if search.validate() else []
    return render_template(
        "admin/models.html",
        rows=rows,
        listing={row.model_id: catalog_data.lookup(known, row.model_id) for row in rows},
        form=form,
        action=ActionForm(),
        check=state.get("catalog_check"),
        search=search,
        found=[(listing, listing.model_id in in_table) for listing in found],
        in_table=in_table,
        catalog_size=len(known),
    )


@bp.post("/models/from-catalog")
def add_from_catalog():
    form = AddFromCatalogForm()
    if not form.validate_on_submit():
        abort(400)
    listing = catalog_data.lookup(catalog_data.listings(), form.model_id.data.strip())
    if listing is None:
        flash(f"'{form.model_id.data}' is not in the catalog; press Check model IDs.", "error")
        return redirect(url_for("admin.models"))
    try:
        catalog.add(listing.model_id, listing.name)
        flash(f"Added {listing.model_id} as available.", "success")
    except catalog.CatalogError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.models"))


@bp.post("/models/check")
def check_models():
    if not ActionForm().validate_on_submit():
        abort(400)
    result = checks.check_catalog()
    if not result["ok"]:
        flash("The catalog could not be read.", "error")
    elif result["missing"]:
        flash(f"{len(result['missing'])} model ID(s) are not in the catalog.", "warning")
    else:
        flash("Every model ID is in the catalog.", "success")
    return redirect(url_for("admin.models"))


def _default(model_id: str) -> str:
    previous = catalog.make_default(model_id)
    after = f" {previous} is now available (not a fallback)." if previous else ""
    return f"{model_id} is now the default model.{after}"


def _role(role: str):
    def change(model_id: str) -> str:
        catalog.set_role(model_id, role)
        return f"{model_id} is now {role}."

    return change


def _enable(model_id: str) -> str:
    return f"{model_id} is {catalog.enable(model_id)}."


def _message(change, message: str):
    def run(model_id: str) -> str:
        change(model_id)
        return message.format(model_id)

    return run


MODEL_ACTIONS = {
    "default": _default,
    "fallback": _role(catalog.FALLBACK),
    "available": _role(catalog.AVAILABLE),
    "disable": _role(catalog.DISABLED),
    "enable": _enable,
    "up": _message(lambda m: catalog.move(m, -1), "{} moved up."),
    "down": _message(lambda m: catalog.move(m, 1), "{} moved down."),
    "remove": _message(catalog.remove, "{} removed from the table."),
}


def replace_model(row: AiModel):
    """A flagged ID's row takes a current ID from the catalog, keeping its place and role."""
    form = ReplaceModelForm()
    if not form.validate_on_submit():
        abort(400)
    old_id, role = row.model_id, row.role
    listing = catalog_data.lookup(catalog_data.listings(), form.model_id.data.strip())
    if listing is None:
        flash(f"'{form.model_id.data}' is not in the catalog; press Check model IDs.", "error")
        return redirect(url_for("admin.models"))
    try:
        catalog.replace(old_id, listing.model_id, listing.name)
    except catalog.CatalogError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.models"))
    flash(
        f"{old_id} replaced with {listing.model_id}, in the same place and still "
        f"{ROLE_WORDS[role]}.",
        "success",
    )
    return redirect(url_for("admin.models"))


ROLE_WORDS = {
    catalog.DEFAULT: "the default",
    catalog.FALLBACK: "a fallback",
    catalog.AVAILABLE: "available",
    catalog.DISABLED: "disabled",
}


@bp.post("/models/<int:row_id>/<action>")
def model_action(row_id: int, action: str):
    row = db.get_or_404(AiModel, row_id)
    if action == "label":
        form = LabelForm()
        if form.validate_on_submit():
            catalog.set_label(row.model_id, form.label.data)
            flash(f"Label of {row.model_id} saved.", "success")
        else:
            flash("The label cannot be empty.", "error")
        return redirect(url_for("admin.models"))
    if action == "replace":
        return replace_model(row)
    if action not in MODEL_ACTIONS:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        flash(MODEL_ACTIONS[action](row.model_id), "success")
    except catalog.CatalogError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.models"))
