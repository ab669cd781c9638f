"""The owner's admin: dashboard, settings, model table and prompt. Every page needs a login."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("admin", __name__)


@bp.before_request
@login_required
def require_login():
    """Every admin page needs a signed-in admin."""


from . import (  # noqa: E402, F401
    alert_settings,
    backup,
    conversations,
    knowledge,
    knowledge_gaps,
    knowledge_hours,
    logs,
    media_files,
    message_templates,
    model_table,
    routes,
    tokens,
    trials,
    try_it,
)
