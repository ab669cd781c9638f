"""Builders for webhook deliveries shaped like the recorded ones in tests/fixtures/whatsapp."""

import itertools
import json
import time
import zlib
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"
PHONE_NUMBER_ID = "106540352242922"
_ids = itertools.count(1)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def number_id_of(name: str) -> str | None:
    """The business phone number ID a recorded delivery was sent to (they differ by source)."""
    for entry in json.loads(fixture(name)).get("entry", []):
        for change in entry.get("changes", []):
            if found := change.get("value", {}).get("metadata", {}).get("phone_number_id"):
                return found
    return None


def text_message(wa_id: str, body: str, message_id: str | None = None) -> dict:
    return {
        "from": wa_id,
        "id": message_id or f"wamid.TEST{next(_ids)}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


def file_message(wa_id: str, kind: str, media_id: str, mime_type: str, **fields) -> dict:
    """A message carrying a file (`kind`: image, audio, video, document, sticker) of this
    media id; `fields` adds to its media object (caption, filename, voice…)."""
    return {
        "from": wa_id,
        "id": f"wamid.FILE{next(_ids)}",
        "timestamp": str(int(time.time())),
        "type": kind,
        kind: {"id": media_id, "mime_type": mime_type, **fields},
    }


def delivery(*messages: dict, statuses=(), name: str = "Sheena Nelson") -> dict:
    """One entry, one change, carrying these messages and statuses."""
    senders = {m["from"] for m in messages if "from" in m}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id} for wa_id in sorted(senders)],
    }
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def status(wa_message_id: str, state: str, recipient: str, error: dict | None = None) -> dict:
    entry = {
        "id": wa_message_id,
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if error:
        entry["errors"] = [error]
    return entry


def text_delivery(wa_id: str, body: str, message_id: str | None = None) -> bytes:
    return json.dumps(delivery(text_message(wa_id, body, message_id))).encode()


# Meta's answer to a free-form message outside the customer service window.
WINDOW_ERROR = {
    "error": {
        "message": "(#131047) Re-engagement message",
        "type": "OAuthException",
        "code": 131047,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Message failed to send because more than 24 hours have passed since "
            "the customer last replied to this number.",
        },
        "fbtrace_id": "AbCdEfGhIjKl",
    }
}


def pdf_bytes(*pages: list[str]) -> bytes:
    """A minimal real PDF, written by hand: one page per list of lines, in Helvetica."""

    def escaped(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    first_page = 4
    kids = " ".join(f"{first_page + 2 * n} 0 R" for n in range(len(pages)))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for n, lines in enumerate(pages):
        shown = " T* ".join(f"({escaped(line)}) Tj" for line in lines)
        # No lines: a shape and no text, as a scanned page has its image and no text layer.
        content = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET" if lines else "0 0 200 200 re f"
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {first_page + 2 * n + 1} 0 R >>"
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    table = "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    out += (
        f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n{table}"
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{len(out)}\n%%EOF\n"
    ).encode("latin-1")
    return out


def pdf_sharing_one_stream(content: bytes, pages: int = 10) -> bytes:
    """A PDF whose `pages` pages all show one content stream, `content` compressed
    (FlateDecode): a file of a few kilobytes that a reader must unpack and read `pages` times."""
    return pdf_of_streams([content], [0] * pages)


def pdf_of_streams(streams: list[bytes], shown: list[int]) -> bytes:
    """A PDF of compressed (FlateDecode) content `streams`, in Helvetica: page n shows the
    stream numbered `shown[n]`, so pages may share one."""
    first_page = 4 + len(streams)
    kids = " ".join(f"{first_page + n} 0 R" for n in range(len(shown)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(shown)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for content in streams:
        packed = zlib.compress(content, 9)
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)
        )
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (4 + stream)
        for stream in shown
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    return out + (
        f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n{table}"
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{len(out)}\n%%EOF\n"
    ).encode("latin-1")


def pdf_of_70_mb_of_text() -> bytes:
    """Ten pages that all show one stream of 70 MB of text, compressed to under 100 kB: read
    page by page, as a reader without limits does, it keeps a core busy for many minutes."""
    line = b"BT /F1 12 Tf 72 720 Td (" + b"W" * 8000 + b") Tj ET\n"
    return pdf_sharing_one_stream(line * (70 * 2**20 // len(line)))


def many_operators() -> bytes:
    """A word and 450,000 moves of the text position: a content stream of 3 MB that pypdf,
    within every limit of its own, takes seconds of CPU to read."""
    return b"BT /F1 12 Tf (W) Tj\n" + b"1 0 Td\n" * (3 * 2**20 // 7) + b"ET\n"


def pdf_of_many_operators() -> bytes:
    """Ten pages that all show `many_operators()`: a minute of CPU for a reader without limits."""
    return pdf_sharing_one_stream(many_operators())
