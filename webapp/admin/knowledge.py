"""The Knowledge page's part: Sources and FAQ."""

from flask import render_template

from . import bp


@bp.route("/knowledge")
def knowledge():
    return render_template("admin/knowledge.html")
