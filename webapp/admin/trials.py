"""The Compare page: start trials, watch their progress, promote a model or a draft prompt."""

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from .. import catalog, prompts, trials
from ..extensions import db
from ..models import Trial
from ..money import budget
from . import bp
from .forms import ActionForm, TrialForm


@bp.route("/trials", methods=["GET", "POST"])
def trials_page():
    form = TrialForm()
    form.models.choices = [
        SelectChoice(row.model_id, f"{row.label} · {row.model_id}")
        for row in catalog.all_models()
        if row.role != catalog.DISABLED
    ]
    refused = budget.refusal("Compare") if form.is_submitted() else None
    if refused:  # the form is shown again as it was typed: nothing is lost
        flash(refused, "error")
    elif form.validate_on_submit():
        try:
            trial = trials.start(
                form.models.data or [],
                form.prompt.data or "",
                form.source.data,
                current_user.username,
                text=form.message.data or "",
                customer=form.customer.data or "",
                last_n=form.last_n.data,
            )
            return redirect(url_for("admin.trial", trial_id=trial.id))
        except trials.TrialError as exc:
            for name, problem in exc.problems.items():
                form[name].errors = [problem]
    if request.method == "POST" and not refused:
        flash("Nothing was started: correct the fields marked below.", "error")
    else:
        form.prompt.data = prompts.current_text()
    return render_template(
        "admin/trials.html", form=form, recent=trials.recent(), model_ids=trials.model_ids
    )


@bp.get("/trials/<int:trial_id>")
def trial(trial_id: int):
    found = db.get_or_404(Trial, trial_id)
    return render_template(
        "admin/trial.html",
        grid=trials.grid(found),
        progress=trials.progress(found.id),
        saved_prompt=prompts.current_text(),
        default=catalog.default_model(),
        action=ActionForm(),
    )


@bp.get("/trials/<int:trial_id>/progress")
def trial_progress(trial_id: int):
    db.get_or_404(Trial, trial_id)
    return jsonify(trials.progress(trial_id))


@bp.post("/trials/<int:trial_id>/columns/<int:column>/make-default")
def trial_make_default(trial_id: int, column: int):
    found = db.get_or_404(Trial, trial_id)
    models = trials.model_ids(found)
    if column >= len(models):
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    model = models[column]
    if catalog.usable(model):
        catalog.make_default(model)
        flash(f"{model} is now the default model.", "success")
    else:
        flash(f"{model} is disabled or no longer in the model table.", "error")
    return redirect(url_for("admin.trial", trial_id=trial_id))


@bp.post("/trials/<int:trial_id>/save-prompt")
def trial_save_prompt(trial_id: int):
    found = db.get_or_404(Trial, trial_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if found.prompt is None or found.prompt == prompts.current_text():
        flash("This trial's prompt is the saved prompt already.", "info")
    else:
        version = prompts.save_version(found.prompt, current_user.username)
        flash(f"The draft is saved as the prompt (version {version.id}).", "success")
    return redirect(url_for("admin.trial", trial_id=trial_id))
