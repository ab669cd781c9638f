"""The Knowledge page's part: Sources and FAQ (files, pasted text, web pages, FAQ entries)."""

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .. import settings
from ..config import UPLOAD_BODY_LIMIT
from ..extensions import csrf, db
from ..knowledge import embeddings, files, sources
from ..knowledge.sources import MAX_FILE_BYTES, SourceRefused
from ..models import KnowledgeSource
from . import bp
from .forms import ActionForm

PREVIEW = 600  # characters of a source's text shown


class FileForm(FlaskForm):
    file = FileField("File", description="PDF, Word (.docx), CSV, text or Markdown, up to 10 MB.")
    name = StringField(
        "Name (optional)",
        validators=[Optional(), Length(max=200)],
        description="How the answers name it; the file's name if left empty.",
    )


class TextForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the text a name."), Length(max=200)],
                       description='Say what it is about, e.g. "Delivery rules".')  # fmt: skip
    text = TextAreaField("Text", validators=[DataRequired("Paste the text to add.")])


class UrlForm(FlaskForm):
    url = StringField("Web page address", validators=[DataRequired("Type the page's address.")],
                      description="Its text is read now and again on each Refresh.")  # fmt: skip


class FaqForm(FlaskForm):
    question = StringField("Question", validators=[DataRequired("Type the question.")],
                           description="As a customer would ask it.")  # fmt: skip
    answer = TextAreaField("Answer", validators=[DataRequired("Type the answer.")])


def _sending(total_tokens: int) -> str:
    inline = int(settings.get("knowledge_inline_tokens"))
    if total_tokens <= inline:
        return "All of it is sent with every question."
    best = int(settings.get("knowledge_chunks"))
    return (
        f"It is more than {inline:,} tokens, so the best {best} parts are picked for each question."
    )


def render_page(status: int = 200, **forms):
    rows = sources.all_sources()
    total = sources.totals()
    empty = {"file_form": FileForm, "text_form": TextForm, "url_form": UrlForm, "faq_form": FaqForm}
    forms = {name: form(formdata=None) for name, form in empty.items()} | forms
    page = render_template(
        "admin/knowledge.html",
        documents=[r for r in rows if r.kind != "faq"],
        faq=[r for r in rows if r.kind == "faq"],
        total=total,
        most=sources.MAX_TOTAL_CHARS,
        sending=_sending(total.tokens),
        progress=embeddings.progress(),
        kinds=sources.KINDS,
        preview=PREVIEW,
        action=ActionForm(formdata=None),  # for its token only: a refused body is never read
        **forms,
    )
    return page, status


@bp.route("/knowledge")
def knowledge():
    return render_page()


def _added(source: KnowledgeSource):
    flash(f"'{source.name}' was added; it is being read now.", "success")
    return redirect(url_for("admin.knowledge") + "#sources")


# The global CSRF check reads the form before this view can raise the body limit for a file,
# and would refuse any file over the forms' 1 MB: FileForm checks the CSRF token itself.
@csrf.exempt
@bp.post("/knowledge/file")
def knowledge_add_file():
    request.max_content_length = UPLOAD_BODY_LIMIT
    try:
        form = FileForm()
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        form = FileForm(formdata=None)
        form.file.errors = [f"The file is larger than {MAX_FILE_BYTES // 2**20} MB, the most "
                            "a file may be. Split it, or remove pictures from it."]  # fmt: skip
        return render_page(413, file_form=form)
    if not form.validate_on_submit():
        return render_page(400, file_form=form)
    if upload is None or not upload.filename:
        form.file.errors = ["Choose a file to add."]
        return render_page(400, file_form=form)
    try:
        source = sources.add_file(
            upload.read(MAX_FILE_BYTES + 1), upload.filename, current_user.username,
            name=form.name.data or None,
        )  # fmt: skip
    except SourceRefused as exc:
        form.file.errors = [str(exc)]
        return render_page(400, file_form=form)
    return _added(source)


@bp.post("/knowledge/text")
def knowledge_add_text():
    form = TextForm()
    if not form.validate_on_submit():
        return render_page(400, text_form=form)
    try:
        source = sources.add_text(form.name.data, form.text.data, current_user.username)
    except SourceRefused as exc:
        (form.name if "name" in str(exc) else form.text).errors = [str(exc)]
        return render_page(400, text_form=form)
    return _added(source)


@bp.post("/knowledge/url")
def knowledge_add_url():
    form = UrlForm()
    if not form.validate_on_submit():
        return render_page(400, url_form=form)
    try:
        source = sources.add_url(form.url.data, current_user.username)
    except SourceRefused as exc:
        form.url.errors = [str(exc)]
        return render_page(400, url_form=form)
    return _added(source)


@bp.post("/knowledge/faq")
def knowledge_add_faq():
    form = FaqForm()
    if not form.validate_on_submit():
        return render_page(400, faq_form=form)
    try:
        source = sources.add_faq(form.question.data, form.answer.data, current_user.username)
    except ValueError as exc:
        form.answer.errors = [str(exc)]
        return render_page(400, faq_form=form)
    flash(f"FAQ entry saved: {source.name}", "success")
    return redirect(url_for("admin.knowledge") + "#faq")


def _source(source_id: int) -> KnowledgeSource:
    source = db.get_or_404(KnowledgeSource, source_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return source


@bp.post("/knowledge/<int:source_id>/refresh")
def knowledge_refresh(source_id: int):
    source = _source(source_id)
    sources.refresh(source)
    flash(f"'{source.name}' is being read again.", "success")
    return redirect(url_for("admin.knowledge") + "#sources")


@bp.post("/knowledge/<int:source_id>/remove")
def knowledge_remove(source_id: int):
    source = _source(source_id)
    name = source.name
    sources.remove(source)
    flash(f"'{name}' was removed.", "success")
    return redirect(url_for("admin.knowledge"))


@bp.get("/knowledge/<int:source_id>/file")
def knowledge_file(source_id: int):
    source = db.get_or_404(KnowledgeSource, source_id)
    path = files.path_of(source.filename)
    if path is None:
        abort(404)
    ending = f".{source.file_format}"
    download = source.name if source.name.lower().endswith(ending) else source.name + ending
    return send_file(path, as_attachment=True, download_name=download,
                     mimetype="application/octet-stream", max_age=0)  # fmt: skip
