"""A loopback fake of Meta's Graph API: accepts sends with fresh ids and records what was sent."""

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

from tests.support.fakes import CannedResponse, FakeServer, RecordedRequest

WHATSAPP_FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"
API_PREFIX = "/v25.0"
MESSAGES_PATH = re.compile(rf"{re.escape(API_PREFIX)}/[^/]+/messages")
TEMPLATES_PATH = re.compile(rf"{re.escape(API_PREFIX)}/([^/?]+)/message_templates")
GENERATE = "X-Fake-Graph-Generate"  # marks the catch-all default that is answered per request
FILES = "/files/"  # where the fake's media answers point (Meta's point at lookaside.fbsbx.com)


@dataclass
class HostedMedia:
    body: bytes
    mime_type: str
    sha256: str  # as Graph's media answer gives it: hex of the file (tests may give a wrong one)


class FakeGraph(FakeServer):
    """FakeServer speaking the Cloud API; queued or replayed answers win over the default one."""

    def __init__(self):
        super().__init__()
        self._ids = itertools.count(1)
        self.answered: list[tuple[RecordedRequest, int]] = []  # every request and its status
        self.media: dict[str, HostedMedia] = {}  # media id → the file Graph hands out
        self.token: str | None = None  # when set, media calls without this Bearer token get 401
        self.edge_status: int | None = None  # see fail_sends_at_the_edge
        self.numbers: dict[str, dict] = {}  # phone number id → what GET /<id> answers
        self.templates: dict[str, list[dict]] = {}  # business account id → its templates
        self.templates_page_size = 2
        # FakeServer's defaults are fixed bytes; a send needs a new id each time, so the
        # catch-all default is only a marker that _respond_to swaps for a generated answer.
        self.default(headers={GENERATE: "1"})

    @property
    def base_url(self) -> str:
        return self.url + API_PREFIX

    def replay(self, fixture_name: str, status: int = 200, headers=None, **options) -> None:
        """Queue the recorded bytes of tests/fixtures/whatsapp/<fixture_name> unchanged."""
        self.queue(status, fixture_bytes(fixture_name), headers, **options)

    def host_media(self, media_id: str, body: bytes, mime_type: str, sha256: str | None = None):
        """Serve a customer's file as Graph does: `GET /<media-id>` answers its address, type,
        hash and size; that address answers the bytes. Both need the access token."""
        digest = sha256 or hashlib.sha256(body).hexdigest()
        self.media[media_id] = HostedMedia(body, mime_type, digest)

    def has_number(self, number_id: str, name: str, number: str, quality: str = "GREEN"):
        """Answer `GET /<number_id>` as Graph does for a business phone number (with the
        access token in `token`, when one is set)."""
        self.numbers[number_id] = {"verified_name": name, "display_phone_number": number,
                                   "quality_rating": quality, "id": number_id}  # fmt: skip

    def host_templates(self, business_account_id: str, templates: list[dict], page_size=2):
        """Answer `GET /<business_account_id>/message_templates` as Graph does: `page_size`
        templates a page, the next asked for with `after=<cursor>`; `paging.next` names the
        page after (at an address of its own, which a client must not follow)."""
        self.templates[business_account_id] = list(templates)
        self.templates_page_size = page_size

    def template_requests(self) -> list[dict[str, list[str]]]:
        """The query of each template list request, in order."""
        return [
            parse_qs(r.query) for r, _ in list(self.answered) if TEMPLATES_PATH.fullmatch(r.path)
        ]

    def fail_sends_at_the_edge(self, status: int = 502) -> None:
        """Answer every text send that has nothing queued with `status` and an HTML page, no
        Graph error in it: what Meta's edge answers when Graph is slow, which may be after
        Graph took the message. Read receipts and media calls are answered as usual."""
        self.edge_status = status

    def media_requests(self) -> list[tuple[str, str | None]]:
        """(path, Authorization header) of every media call, in order."""
        return [
            (r.path, r.headers.get("Authorization"))
            for r, _ in list(self.answered)
            if r.method == "GET"
        ]

    def sent_texts(self) -> list[tuple[str, str, str | None]]:
        """(to, body, replied-to message id) of each text send answered 2xx, in order.

        A delayed answer counts even when the client stopped waiting for it.
        """
        texts = []
        for request, status in list(self.answered):
            sent = _json(request.body)
            accepted = 200 <= status < 300 and MESSAGES_PATH.fullmatch(request.path)
            if accepted and sent.get("type") == "text" and isinstance(sent.get("text"), dict):
                context = sent.get("context") or {}
                texts.append(
                    (
                        sent.get("to") or sent.get("recipient"),
                        sent["text"].get("body"),
                        context.get("message_id"),
                    )
                )
        return texts

    def sent_templates(self) -> list[tuple[str, str, list]]:
        """(to, template name, its components) of each template send answered 2xx, in order."""
        sent = []
        for request, status in list(self.answered):
            body = _json(request.body)
            accepted = 200 <= status < 300 and MESSAGES_PATH.fullmatch(request.path)
            if (
                accepted
                and body.get("type") == "template"
                and isinstance(body.get("template"), dict)
            ):
                template = body["template"]
                to = body.get("to") or body.get("recipient")
                sent.append((to, template.get("name"), template.get("components") or []))
        return sent

    def _respond_to(self, request: RecordedRequest) -> CannedResponse:
        canned = super()._respond_to(request)
        if GENERATE in canned.headers:
            canned = self._generated(request)
        self.answered.append((request, canned.status))
        return canned

    def _generated(self, request: RecordedRequest) -> CannedResponse:
        listing = TEMPLATES_PATH.fullmatch(request.path)
        if request.method == "GET" and listing and listing[1] in self.templates:
            return self._templates_answer(request, listing[1])
        if request.method == "GET":
            return self._media_answer(request)
        sent = _json(request.body)
        if request.method != "POST" or not MESSAGES_PATH.fullmatch(request.path) or not sent:
            body = fixture_bytes("send_error_100_subcode33_unknown_phone_number_id.json")
            return _json_response(400, body)
        if sent.get("status") == "read":
            return _json_response(200, fixture_bytes("send_ok_mark_as_read.json"))
        if self.edge_status is not None:
            return edge_page(self.edge_status)
        answer = json.loads(fixture_bytes("send_ok.json"))
        to = str(sent.get("to") or sent.get("recipient"))
        answer["contacts"] = [{"input": to, "wa_id": re.sub(r"\D", "", to)}]
        answer["messages"] = [{"id": f"wamid.FAKE{next(self._ids)}"}]
        return _json_response(200, json.dumps(answer).encode())

    def _templates_answer(self, request: RecordedRequest, account: str) -> CannedResponse:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json_response(401, fixture_bytes("send_error_190_token_expired.json"))
        query = parse_qs(request.query)
        start = int(query.get("after", ["0"])[0].removeprefix("cursor"))
        size, templates = self.templates_page_size, self.templates[account]
        answer = json.loads(fixture_bytes("templates_list.json"))
        answer["data"] = templates[start : start + size]
        answer["paging"]["cursors"] = {"before": f"cursor{start}", "after": f"cursor{start + size}"}
        if start + size < len(templates):  # Graph names `next` only when there is more
            answer["paging"]["next"] = f"https://elsewhere.invalid/next?after=cursor{start + size}"
        return _json_response(200, json.dumps(answer).encode())

    def _media_answer(self, request: RecordedRequest) -> CannedResponse:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json_response(401, fixture_bytes("send_error_190_token_expired.json"))
        if request.path.startswith(FILES):
            hosted = self.media.get(request.path.removeprefix(FILES))
            return CannedResponse(200, hosted.body, {"Content-Type": hosted.mime_type})
        media_id = request.path.removeprefix(API_PREFIX + "/")
        if media_id in self.numbers:
            return _json_response(200, json.dumps(self.numbers[media_id]).encode())
        if (hosted := self.media.get(media_id)) is None:  # an unknown or expired media id
            body = fixture_bytes("send_error_100_subcode33_unknown_phone_number_id.json")
            return _json_response(404, body)
        answer = json.loads(fixture_bytes("media_url.json"))
        answer.update(url=self.url + FILES + media_id, mime_type=hosted.mime_type, id=media_id,
                      sha256=hosted.sha256, file_size=str(len(hosted.body)))  # fmt: skip
        return _json_response(200, json.dumps(answer).encode())


def edge_page(status: int) -> CannedResponse:
    """An error page from a proxy in front of Graph: HTML, no Graph error object."""
    title = f"{status} {HTTPStatus(status).phrase}"
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return CannedResponse(status, page.encode(), {"Content-Type": "text/html"})


def _json(body: bytes) -> dict:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _json_response(status: int, body: bytes) -> CannedResponse:
    return CannedResponse(status, body, {"Content-Type": "application/json"})


def fixture_bytes(name: str) -> bytes:
    return (WHATSAPP_FIXTURES / name).read_bytes()
