"""The Knowledge page's part: Unanswered questions."""

from flask import render_template

from . import bp


@bp.route("/knowledge/gaps")
def knowledge_gaps():
    return render_template("admin/knowledge_gaps.html")
