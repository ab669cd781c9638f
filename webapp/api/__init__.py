"""The API for flow builders: OpenRouter's chat completions, answered by Switchboard."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from . import routes  # noqa: E402, F401
