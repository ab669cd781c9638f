"""The Knowledge page's part: Opening hours."""

from flask import render_template

from . import bp


@bp.route("/knowledge/hours")
def knowledge_hours():
    return render_template("admin/knowledge_hours.html")
