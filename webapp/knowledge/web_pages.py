"""A web page's text, fetched as the API clients fetch: only from public addresses (checked
on the address connected to), redirects followed by hand to addresses that pass the same
check, the size and the time capped. HTML is read as text; scripts, styles and menus dropped.
"""

import re
import time
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from urllib3.exceptions import HTTPError

from ..clients.addresses import url_refusal
from ..clients.http import HttpClient, TransportError
from ..config import private_addresses_allowed

MOST_BYTES = 5 * 2**20  # read of a page; the rest is never downloaded
SECONDS = 20.0  # for the whole fetch, redirects included
REDIRECTS = 5
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
DROPPED = frozenset({"script", "style", "nav", "noscript", "template", "svg", "head", "footer"})
BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
     "table", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "main", "header", "hr"}
)  # fmt: skip
USER_AGENT = "Switchboard knowledge reader"


class PageRefused(ValueError):
    """The page could not be read; the message says why in the owner's words."""


class PageClient(HttpClient):
    base_url_label = "page address"


def refusal(url: str) -> str | None:
    """Why the page at `url` may not be fetched, or None."""
    why = url_refusal(url.strip(), private_addresses_allowed())
    return f"The address {why}." if why else None


def fetch(url: str, seconds: float = SECONDS, most: int = MOST_BYTES) -> tuple[str, list[str]]:
    """The text of the page at `url` and notes (cut at `most` bytes); PageRefused says why
    there is none."""
    ends = time.monotonic() + seconds
    for _ in range(REDIRECTS + 1):
        if why := refusal(url):
            raise PageRefused(why)
        client = PageClient("", url, seconds)
        left = ends - time.monotonic()
        if left <= 0:
            raise PageRefused(f"The page did not arrive within {seconds:g} seconds.")
        try:
            with client.open("GET", url, left, headers=_headers()) as answer:
                if answer.status_code in (301, 302, 303, 307, 308):
                    target = answer.headers.get("Location")
                    if not target:
                        raise PageRefused("The site sent a redirect without an address.")
                    url = urljoin(url, target)
                    continue
                if answer.status_code >= 400:
                    raise PageRefused(f"The site answered with HTTP {answer.status_code}.")
                kind = (answer.headers.get("Content-Type") or "text/html").split(";")[0]
                if kind.strip().lower() not in TEXT_TYPES:
                    raise PageRefused(
                        f"The address gives a file of type {kind.strip()[:60]}, not a web page "
                        "or text: download it and add it as a file instead."
                    )
                body, notes = _body(client, answer, ends, seconds, most)
                charset = _charset(answer.headers.get("Content-Type") or "")
        except TransportError as exc:
            raise PageRefused(_words(exc, seconds)) from None
        text = body.decode(charset, "replace")
        if kind.strip().lower() in ("text/html", "application/xhtml+xml"):
            text = html_text(text)
        if not text.strip():
            raise PageRefused("The page has no text to read (it may be built by JavaScript).")
        return text, notes
    raise PageRefused(f"The page redirects more than {REDIRECTS} times.")


def label_of(url: str) -> str:
    """ "example.com/faq": how a page is named in the chunks' labels."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    return (host + parts.path.rstrip("/"))[:300] or url[:300]


def _headers() -> dict[str, str]:
    return {"User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.9",
            "Accept-Encoding": "identity"}  # fmt: skip


def _body(client, answer, ends: float, seconds: float, most: int) -> tuple[bytes, list[str]]:
    """The page's bytes up to `most`, read as they come (read1: a page trickling a few bytes
    a second is still stopped at `ends`, not once a whole buffer has filled)."""
    chunks, size = [], 0
    try:
        while chunk := answer.raw.read1(65536, decode_content=True):
            if time.monotonic() > ends:
                raise client._no_answer(seconds)
            chunks.append(chunk)
            size += len(chunk)
            if size >= most:
                note = f"the page is larger than {most // 2**20} MB: only its beginning was read"
                return b"".join(chunks)[:most], [note]
    except (HTTPError, OSError):
        if time.monotonic() > ends:
            raise client._no_answer(seconds) from None
        raise TransportError("The connection broke before the page was complete.", True) from None
    answer.read_whole = True
    return b"".join(chunks), []


def _charset(content_type: str) -> str:
    found = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    name = found.group(1) if found else "utf-8"
    try:
        "".encode(name)
    except LookupError:
        return "utf-8"
    return name


def _words(exc: TransportError, seconds: float) -> str:
    if exc.timed_out:
        return f"The page did not arrive within {seconds:g} seconds, so it was not read."
    return exc.message


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in DROPPED:
            self.skipping += 1
        elif tag in BLOCKS:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if tag in DROPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(data)


def html_text(html: str) -> str:
    """The words of an HTML page, one paragraph a block, without scripts, styles or menus."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
