"""The Knowledge page's part: Unanswered questions, each answered as an FAQ entry or dismissed."""

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..knowledge import gaps, sources
from . import bp
from .forms import ActionForm

ANSWERED_SHOWN = 10


class GapAnswerForm(FlaskForm):
    """One gap's Answer it: the question as the FAQ entry will say it, and its answer."""

    question = StringField(
        "Question", validators=[DataRequired(), Length(max=sources.MAX_QUESTION)]
    )
    answer = TextAreaField(
        "Answer",
        validators=[DataRequired(), Length(max=sources.MAX_ANSWER)],
        description="Saved as an FAQ entry: the assistant uses it from the next question on.",
    )


def _form(gap: gaps.Gap, formdata=None) -> GapAnswerForm:
    # Asked again after an answer: the entry that did not help, to correct in place.
    question = gap.faq or gap.question
    form = GapAnswerForm(formdata=formdata, prefix=f"gap{gap.id}", question=question)
    if formdata is None and gap.answer:
        form.answer.data = gap.answer
    return form


@bp.get("/knowledge/gaps")
def knowledge_gaps():
    return _page()


def _page(failed: GapAnswerForm | None = None, failed_id: int | None = None, status=200):
    open_gaps = gaps.listed(gaps.OPEN)
    forms = {gap.id: _form(gap) for gap in open_gaps}
    if failed is not None:
        forms[failed_id] = failed
    return render_template(
        "admin/knowledge_gaps.html",
        open_gaps=open_gaps,
        forms=forms,
        failed_id=failed_id,
        answered=gaps.listed(gaps.ANSWERED, limit=ANSWERED_SHOWN),
        action=ActionForm(),
    ), status


@bp.post("/knowledge/gaps/<int:gap_id>/answer")
def answer_gap(gap_id: int):
    if not gaps.listed(gaps.OPEN, gap_id=gap_id):
        flash("That question is no longer in the list.", "info")
        return redirect(url_for("admin.knowledge_gaps"))
    form = GapAnswerForm(prefix=f"gap{gap_id}")
    if not form.validate_on_submit():
        return _page(form, gap_id, 400)  # what was typed stays, with the field's error
    try:
        gaps.answer(gap_id, form.question.data, form.answer.data, author=current_user.username)
    except ValueError as exc:
        form.answer.errors = [str(exc)]
        return _page(form, gap_id, 400)
    except LookupError as exc:
        flash(str(exc), "info")
        return redirect(url_for("admin.knowledge_gaps"))
    flash("Added to the FAQ: the assistant will use it from the next question.", "success")
    return redirect(url_for("admin.knowledge_gaps"))


@bp.post("/knowledge/gaps/<int:gap_id>/dismiss")
def dismiss_gap(gap_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    if gaps.dismiss(gap_id):
        flash("Dismissed. If a customer asks it again, it comes back to the list.", "success")
    else:
        flash("That question is no longer in the list.", "info")
    return redirect(url_for("admin.knowledge_gaps"))
