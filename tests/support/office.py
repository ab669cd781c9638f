"""Word documents built in tests: a real .docx's minimum, and a zip bomb dressed as one."""

import io
import zipfile
from xml.sax.saxutils import escape

NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def docx_bytes(*paragraphs: str, xml: str | None = None) -> bytes:
    """A Word document of these paragraphs (each may be split into runs with "|")."""
    if xml is None:
        body = "".join(
            "<w:p>"
            + "".join(f"<w:r><w:t>{escape(run)}</w:t></w:r>" for run in p.split("|"))
            + "</w:p>"
            for p in paragraphs
        )
        xml = (
            f'<?xml version="1.0"?><w:document xmlns:w="{NS}"><w:body>{body}</w:body></w:document>'
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("word/document.xml", xml)
    return out.getvalue()


def zip_bomb_docx(unpacked_mb: int = 300) -> bytes:
    """A .docx of a few hundred kilobytes whose document unpacks to `unpacked_mb` megabytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * 2**20
            for _ in range(unpacked_mb):
                member.write(block)
    return out.getvalue()
