"""What a model reads of a customer's messages: their text, a photo's caption, a voice note's
transcript, a PDF's text, and the photos themselves for a model that can see them.

One message reads the same wherever it goes: in its own turn (`turn_text`, with the document's
whole text and the photo beside it) and in the memory of later turns (`memory_text`, a short
note for a photo or a document: a file is never sent twice).
"""

import base64
from collections.abc import Sequence
from dataclasses import dataclass

LABELS = {"image": "Photo", "audio": "Voice note", "video": "Video", "document": "Document"}
MEMORY_DOCUMENT_CHARS = 2000  # of a PDF's text, in the memory of later turns
# Of a customer's own words (a text, a caption) the model reads at most this many: a real
# question fits many times over, and a flood of text would make every call of the
# conversation dearer (its memory carries it along).
MESSAGE_CHARS = 4000


@dataclass(frozen=True)
class Read:
    """A customer message as the pipeline sees it."""

    type: str
    text: str | None  # the text, or a photo's, video's or document's caption
    media_text: str | None = None  # a voice note's transcript, a PDF's text
    media_name: str | None = None  # a document's file name
    media_mime: str | None = None
    photo: str | None = None  # the stored file of a photo a model will see
    image: str | None = None  # that photo as a data: URL, while the model is asked
    withheld: bool = False  # a file not downloaded: the customer passed their daily allowance


def words(text: str | None) -> str | None:
    """A customer's words as the model reads them: cut at MESSAGE_CHARS, saying so."""
    if text is None or len(text) <= MESSAGE_CHARS:
        return text
    return (
        f"{text[:MESSAGE_CHARS]}\n[The customer's message was {len(text):,} characters long; "
        f"only its first {MESSAGE_CHARS:,} are shown.]"
    )


def _join(*pieces: str | None) -> str | None:
    return "\n".join(piece for piece in pieces if piece) or None


def _document(message: Read) -> str:
    return f"Document: {message.media_name}" if message.media_name else "Document"


def memory_text(type_: str, text: str | None, media_text: str | None, name: str | None):
    """How an earlier message is remembered: its words; a file as a note of what it was."""
    text = words(text)
    if type_ == "sticker":
        return None
    if type_ == "audio":
        return f"[Voice note] {media_text}" if media_text else "[Voice note, not transcribed]"
    if type_ == "document":
        label = f"[Document: {name}]" if name else "[Document]"
        read = media_text and media_text[:MEMORY_DOCUMENT_CHARS]
        cut = "…" if media_text and len(media_text) > MEMORY_DOCUMENT_CHARS else ""
        return _join(f"{label} {text or ''}".strip(), read and read + cut)
    if type_ in LABELS:
        return f"[{LABELS[type_]}] {text or ''}".strip()
    return text


def turn_text(message: Read) -> str | None:
    """The words of a message in its own turn; None when there are none to read."""
    kind, said = message.type, words(message.text)
    if kind == "sticker":
        return None
    if kind == "audio":
        if message.media_text:
            return f"[Voice note] {message.media_text}"
        return "[A voice note that could not be transcribed]"
    if kind == "image":
        return _join("[Photo]" if message.image else "[A photo you cannot see]", said)
    if kind == "document":
        if message.media_text:
            return _join(f"[{_document(message)}]", said, message.media_text)
        return _join(f"[A {_document(message).lower()} you cannot read]", said)
    if kind in LABELS:
        return _join(f"[A {LABELS[kind].lower()} you cannot see]", said)
    return said


def readable(message: Read) -> bool:
    """Whether the message gives the model something to answer: words of the customer's,
    a transcript, a document's text or a photo it will see."""
    if message.type in LABELS:
        return bool(message.text or message.media_text or message.image)
    return bool(message.text) and message.type != "sticker"


def user_content(messages: Sequence[Read]) -> str | list[dict]:
    """The new messages as one user message: plain text, or content parts when photos go."""
    if not any(message.image for message in messages):
        return "\n\n".join(text for message in messages if (text := turn_text(message)))
    parts: list[dict] = []
    for message in messages:
        if text := turn_text(message):
            parts.append({"type": "text", "text": text})
        if message.image:
            parts.append({"type": "image_url", "image_url": {"url": message.image}})
    return parts


def data_url(mime: str | None, data: bytes) -> str:
    """A photo as a data: URL, the form every image-capable model on OpenRouter accepts."""
    kind = (mime or "image/jpeg").split(";")[0].strip() or "image/jpeg"
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"
