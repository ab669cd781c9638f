"""A customer's photo, voice note, video, document or sticker, served to the signed-in owner.

The bytes come from a stranger, so the browser is told exactly what they are and nothing more:
only the types WhatsApp carries are shown in the page, everything else (an HTML page, an SVG
with a script) is a download the browser never renders, and the file answers under a policy
that lets it run nothing.
"""

import mimetypes
import re

from flask import abort, send_file

from .. import media_store
from ..display import hidden_chars
from ..extensions import db
from ..models import Message
from . import bp

SHOWN = frozenset(
    {"image/jpeg", "image/png", "image/webp", "audio/ogg", "audio/mpeg", "audio/mp4",
     "audio/aac", "audio/amr", "video/mp4", "video/3gpp"}
)  # fmt: skip
DOWNLOADED = frozenset({"application/pdf"})
# Parameters kept on an audio type ("audio/ogg; codecs=opus" lets the browser pick a decoder).
PARAMETERS = re.compile(r"(;\s*[\w.+-]+=[\w.+-]+)+")
# What a file name may not carry into a header or a save dialog: controls, quotes, separators.
UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')
FILE_POLICY = "default-src 'none'; sandbox"


@bp.get("/media/<int:message_id>")
def media_file(message_id: int):
    message = db.get_or_404(Message, message_id)
    name = message.media_file
    if not name or not media_store.STORED_NAME.fullmatch(name):
        abort(404)
    path = media_store.folder() / name
    if not path.is_file():
        abort(404)  # deleted with the messages that used it, or never written
    mimetype = served_type(message.media_mime)
    inline = mimetype.split(";")[0] in SHOWN and message.type != "document"
    response = send_file(
        path,
        mimetype=mimetype,
        as_attachment=not inline,
        download_name=download_name(message, mimetype),
        conditional=True,  # Range requests: the player seeks in a voice note
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_POLICY
    response.headers["Cache-Control"] = "private"
    return response


def served_type(stored: str | None) -> str:
    """The Content-Type to answer with: the stored type when WhatsApp carries it, else bytes."""
    base, _, parameters = (stored or "").partition(";")
    base = base.strip().lower()
    if base.startswith("audio/") and base in SHOWN and PARAMETERS.fullmatch(f";{parameters}"):
        return f"{base};{parameters}"
    if base in SHOWN or base in DOWNLOADED:
        return base
    return "application/octet-stream"


def download_name(message: Message, mimetype: str) -> str:
    """The name the file is saved under: a document's own, made harmless (no hidden
    character to make `report<U+202E>fdp.exe` look like a PDF in the save dialog), or one like
    image-12.png (never the stored name, which would say nothing to the owner)."""
    cleaned = UNSAFE_IN_NAME.sub("_", hidden_chars.stripped(message.media_name)).strip(" ._")[:150]
    extension = mimetypes.guess_extension(mimetype.split(";")[0]) or ""
    return cleaned or f"{message.type}-{message.id}{extension}"
