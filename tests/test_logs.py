"""The request log: list with filters and keyset pages, detail with troubleshooting, CSV export."""

import csv
import html
import io
import re

import pytest
from flask import url_for
from markupsafe import escape

from tests.conftest import post_webhook, wait_for
from tests.support.browser import sign_in
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import fixture
from tests.support.records import add_row
from tests.support.replies import finished
from webapp import state
from webapp.admin import log_queries
from webapp.extensions import db
from webapp.models import Contact, Message
from webapp.troubleshooting import TROUBLES, ErrorKind

API_KEY = "sk-or-v1-test-key-0000000000000000000000000000"
SCRIPT = "<script>alert(1)</script>"
HEADER = (
    "time,channel,contact,model_requested,model_used,status,http_status,error_kind,"
    "latency_ms,prompt_tokens,completion_tokens,cost,hint"
)


def add_contact(app, customer_id="16505551234", name="Ana Lima", phone="16505551234") -> int:
    with app.app_context():
        contact = Contact(customer_id=customer_id, phone=phone, profile_name=name)
        db.session.add(contact)
        db.session.commit()
        return contact.id


def add_message(app, contact_id: int, text: str, reply: str | None = None) -> int:
    """A customer's message and, if given, the bot's reply to it; the inbound message's id."""
    with app.app_context():
        inbound = Message(
            contact_id=contact_id, direction="in", author="customer", text=text, state="answered"
        )
        db.session.add(inbound)
        db.session.flush()
        if reply is not None:
            db.session.add(
                Message(
                    contact_id=contact_id,
                    direction="out",
                    author="bot",
                    text=reply,
                    state="sent",
                    reply_to_id=inbound.id,
                )
            )
        db.session.commit()
        return inbound.id


def shown_ids(response) -> list[int]:
    """The log rows a list page shows, in its order."""
    return [
        int(i) for i in re.findall(r'href="/admin/logs/(\d+)"', response.get_data(as_text=True))
    ]


def link(response, rel: str) -> str | None:
    found = re.search(rf'href="([^"]+)" rel="{rel}"', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# The list and its filters


def test_the_log_shows_each_attempt_newest_first_with_its_figures(app, admin):
    contact = add_contact(app)
    older = add_row(app, 0, contact_id=contact)
    newer = add_row(app, 5, contact_id=contact, status="error", http_status=429)
    response = admin.get("/admin/logs")
    assert response.status_code == 200
    assert shown_ids(response) == [newer, older]
    page = response.get_data(as_text=True)
    contact = "<bdi>Ana Lima</bdi> (+16505551234)"  # the name isolated from the number
    for text in ("2026-01-10 12:05:00", contact, "openai/gpt-4o-mini", "429"):
        assert text in page
    for text in ("rate_limited", "812 ms", "120 / 34", '<span title="$0.0000387">&lt; $0.01'):
        assert text in page


def test_an_empty_log_says_so(admin):
    assert "Nothing has been logged yet." in admin.get("/admin/logs").get_data(as_text=True)


def test_the_date_filter_includes_both_end_days_whole(app, admin):
    day_before = add_row(app, -13 * 60)  # 2026-01-09 23:00
    first = add_row(app, -12 * 60)  # 2026-01-10 00:00
    last = add_row(app, 11 * 60 + 59.9)  # 2026-01-10 23:59:54
    day_after = add_row(app, 12 * 60)  # 2026-01-11 00:00
    response = admin.get("/admin/logs?since=2026-01-10&until=2026-01-10")
    assert shown_ids(response) == [last, first]
    assert shown_ids(admin.get("/admin/logs?since=2026-01-11")) == [day_after]
    assert shown_ids(admin.get("/admin/logs?until=2026-01-09")) == [day_before]


def test_the_channel_filter_shows_only_that_channel(app, admin):
    whatsapp = add_row(app, 0)
    flow = add_row(app, 1, channel="flow")
    add_row(app, 2, channel="playground")
    assert shown_ids(admin.get("/admin/logs?channel=flow")) == [flow]
    assert shown_ids(admin.get("/admin/logs?channel=whatsapp")) == [whatsapp]


def test_the_model_filter_matches_the_model_requested_or_the_model_used(app, admin):
    asked = add_row(app, 0, model_requested="google/gemini-3.5-flash", model_used="x/other")
    answered = add_row(
        app, 1, model_requested="openai/gpt-4o", model_used="google/gemini-3.5-flash"
    )
    # The same model in both columns matches twice but is shown once.
    both = add_row(
        app, 2, model_requested="google/gemini-3.5-flash", model_used="google/gemini-3.5-flash"
    )
    add_row(app, 3, model_requested="openai/gpt-4o", model_used="openai/gpt-4o")
    response = admin.get("/admin/logs?model=google/gemini-3.5-flash")
    assert shown_ids(response) == [both, answered, asked]


def test_the_status_filter_separates_answers_from_failures(app, admin):
    ok = add_row(app, 0)
    failed = add_row(app, 1, status="error")
    assert shown_ids(admin.get("/admin/logs?status=ok")) == [ok]
    assert shown_ids(admin.get("/admin/logs?status=error")) == [failed]


def test_the_kind_filter_shows_only_that_error_kind(app, admin):
    add_row(app, 0, status="error", error_kind="rate_limited")
    timeout = add_row(app, 1, status="error", error_kind="timeout", http_status=None)
    add_row(app, 2)
    assert shown_ids(admin.get("/admin/logs?kind=timeout")) == [timeout]


@pytest.mark.parametrize("search", ["16505551234", "+1 650 555 1234", "5551", "ana", "LIMA"])
def test_the_contact_filter_matches_number_or_name(app, admin, search):
    ana = add_row(app, 0, contact_id=add_contact(app))
    other = add_contact(app, customer_id="447700900123", name="Ben", phone="447700900123")
    add_row(app, 1, contact_id=other)
    add_row(app, 2, channel="playground")
    assert shown_ids(admin.get("/admin/logs", query_string={"contact": search})) == [ana]


def test_the_contact_filter_matches_a_customer_id_without_a_number(app, admin):
    user = add_contact(app, customer_id="US.13491208655302741918", name=None, phone=None)
    row = add_row(app, 0, contact_id=user)
    add_row(app, 1, contact_id=add_contact(app))
    assert shown_ids(admin.get("/admin/logs?contact=US.1349")) == [row]


@pytest.mark.parametrize("search", ["red one", "BLUE ONE"])
def test_the_text_search_finds_the_customers_message_and_the_reply(app, admin, search):
    contact = add_contact(app)
    asked = add_message(app, contact, "Do you have the red one?", reply="Only the blue one.")
    other = add_message(app, contact, "Opening hours?", reply="9 to 5.")
    first = add_row(app, 0, contact_id=contact, message_id=asked, status="error")
    retry = add_row(app, 1, contact_id=contact, message_id=asked, attempt=2)
    add_row(app, 2, contact_id=contact, message_id=other)
    add_row(app, 3, channel="playground")
    assert shown_ids(admin.get("/admin/logs", query_string={"q": search})) == [retry, first]


def test_the_text_search_treats_percent_and_underscore_literally(app, admin):
    contact = add_contact(app)
    match = add_row(app, 0, contact_id=contact, message_id=add_message(app, contact, "50% off?"))
    add_row(app, 1, contact_id=contact, message_id=add_message(app, contact, "50 pcs off"))
    assert shown_ids(admin.get("/admin/logs", query_string={"q": "50%"})) == [match]


def test_a_text_search_reads_a_bounded_window_and_older_searches_further(app, admin, monkeypatch):
    monkeypatch.setattr(log_queries, "SCAN_LIMIT", 10)
    contact = add_contact(app)
    found = add_row(app, 0, contact_id=contact, message_id=add_message(app, contact, "refund"))
    for minute in range(1, 31):
        add_row(app, minute, contact_id=contact, message_id=add_message(app, contact, "hello"))
    response = admin.get("/admin/logs?q=refund")
    assert shown_ids(response) == []
    assert "The text search read 10 rows" in response.get_data(as_text=True)
    pages = 1
    while not shown_ids(response):
        response = admin.get(link(response, "next"))
        pages += 1
    assert shown_ids(response) == [found]
    assert pages == 4 and link(response, "next") is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=2026-13-01", "&#39;2026-13-01&#39; is not a date"),
        ("until=yesterday", "&#39;yesterday&#39; is not a date"),
        ("until=9999-12-31", "&#39;9999-12-31&#39; is too far off"),
        ("since=2026-02-01&until=2026-01-01", "The end date is before the start date."),
        ("kind=out_of_luck", "&#39;out_of_luck&#39; is not an error kind"),
        ("channel=sms", "&#39;sms&#39; is not a channel"),
        ("status=maybe", "&#39;maybe&#39; is not a status"),
        ("q=" + "x" * 201, "Search for at most 200 characters."),
    ],
)
def test_a_bad_filter_value_gives_a_message_not_an_error_page(app, admin, query, message):
    add_row(app, 0)
    response = admin.get("/admin/logs?" + query)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert shown_ids(response) == []


def test_a_cursor_that_no_longer_exists_falls_back_to_the_newest_rows(app, admin):
    row = add_row(app, 0)
    response = admin.get("/admin/logs?before=999999")
    assert response.status_code == 200
    assert "no longer exists" in response.get_data(as_text=True)
    assert shown_ids(response) == [row]


# Pages


def test_pages_of_fifty_follow_each_other_without_overlap_or_gap(app, admin):
    # Three rows share each minute, so the order must fall back on the id to be complete.
    ids = [add_row(app, n // 3) for n in range(120)]
    newest_first = sorted(ids, key=lambda i: (ids.index(i) // 3, i), reverse=True)
    first = admin.get("/admin/logs")
    second = admin.get(link(first, "next"))
    last = admin.get(link(second, "next"))
    assert shown_ids(first) == newest_first[:50]
    assert shown_ids(second) == newest_first[50:100]
    assert shown_ids(last) == newest_first[100:]
    assert link(first, "prev") is None and link(last, "next") is None


def test_newer_leads_back_to_the_page_before(app, admin):
    for n in range(120):
        add_row(app, n)
    first = admin.get("/admin/logs")
    second = admin.get(link(first, "next"))
    last = admin.get(link(second, "next"))
    assert shown_ids(admin.get(link(last, "prev"))) == shown_ids(second)
    back = admin.get(link(second, "prev"))
    assert shown_ids(back) == shown_ids(first) and link(back, "prev") is None


def test_pages_keep_the_filters(app, admin):
    for n in range(120):
        add_row(app, n, channel="flow" if n % 2 else "whatsapp")
    first = admin.get("/admin/logs?channel=flow")
    assert "channel=flow" in link(first, "next")
    rest = admin.get(link(first, "next"))
    assert (len(shown_ids(first)), len(shown_ids(rest))) == (50, 10)


# CSV


def test_the_csv_has_the_contract_header_and_columns_in_order(app, admin):
    add_row(app, 0)
    response = admin.get("/admin/logs.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True).splitlines()[0] == HEADER
    assert re.fullmatch(
        r"attachment; filename=switchboard-log-\d{8}\.csv", response.headers["Content-Disposition"]
    )


def test_a_csv_row_carries_the_attempts_figures(app, admin):
    contact = add_contact(app)
    failure = {"status": "error", "http_status": 503, "error_kind": "upstream_unavailable"}
    add_row(app, 0, contact_id=contact, model_requested="openai/gpt-4o", latency_ms=95, **failure)
    add_row(app, 1, contact_id=contact, model_used="openai/gpt-4o-mini-2024-07-18")
    rows = csv_rows(admin.get("/admin/logs.csv"))
    assert rows[1] == [
        "2026-01-10T12:01:00+00:00", "whatsapp", "Ana Lima (+16505551234)", "openai/gpt-4o-mini",
        "openai/gpt-4o-mini-2024-07-18", "ok", "200", "", "812", "120", "34", "0.0000387", "",
    ]  # fmt: skip
    assert rows[2][:9] == [
        "2026-01-10T12:00:00+00:00", "whatsapp", "Ana Lima (+16505551234)", "openai/gpt-4o", "",
        "error", "503", "upstream_unavailable", "95",
    ]  # fmt: skip


def test_a_csv_contact_without_a_name_is_the_number_guarded_like_any_cell_starting_with_plus(
    app, admin
):
    add_row(app, 0, contact_id=add_contact(app, name=None))
    assert csv_rows(admin.get("/admin/logs.csv"))[1][2] == "'+16505551234"


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_the_csv_hint_is_the_troubleshooting_fix_of_the_kind(app, admin, kind):
    add_row(app, 0, status="error", error_kind=str(kind))
    assert csv_rows(admin.get("/admin/logs.csv"))[1][-1] == TROUBLES[kind].fix


def test_the_csv_applies_the_same_filters_as_the_page(app, admin):
    add_row(app, 0)
    add_row(app, 1, status="error", error_kind="timeout")
    add_row(app, 2, status="error", error_kind="no_credits", channel="flow")
    rows = csv_rows(admin.get("/admin/logs.csv?status=error&channel=whatsapp"))
    assert [row[7] for row in rows[1:]] == ["timeout"]


def test_the_csv_refuses_bad_filters_with_the_message(admin):
    response = admin.get("/admin/logs.csv?kind=nonsense")
    assert response.status_code == 400
    assert "'nonsense' is not an error kind" in response.get_data(as_text=True)


def test_the_csv_defuses_cells_a_spreadsheet_would_run_as_formulas(app, admin):
    name = '=HYPERLINK("http://evil.example","click")'
    contact = add_contact(app, name=name)
    add_row(app, 0, contact_id=contact, model_requested="@SUM(A1)", model_used="-2+3")
    add_row(app, 1, contact_id=add_contact(app, "1", name="+cmd", phone=None), model_used="\tx")
    newest, oldest = csv_rows(admin.get("/admin/logs.csv"))[1:]
    assert oldest[2:5] == ["'" + name + " (+16505551234)", "'@SUM(A1)", "'-2+3"]
    assert newest[2] == "'+cmd (1)" and newest[4] == "'\tx"


@pytest.mark.parametrize(
    "model",
    ["\uff1dSUM(A1)", "\uff0bcmd", "\uff0d2+3", "\uff20SUM(A1)", "  =1+1", "\u3000=1+1",
     " \tx", "\r=1+1", "  \rx", "\n-1"],
)  # fmt: skip
def test_the_csv_defuses_full_width_starters_and_starters_behind_spaces(app, admin, model):
    add_row(app, 0, model_requested=model)
    assert csv_rows(admin.get("/admin/logs.csv"))[1][3] == "'" + model


@pytest.mark.parametrize("model", ["openai/gpt-4o", "a=b", "x-y", "", "\uff41"])
def test_the_csv_leaves_cells_without_a_formula_start_as_they_are(app, admin, model):
    add_row(app, 0, model_requested=model)
    assert csv_rows(admin.get("/admin/logs.csv"))[1][3] == model


def test_the_page_links_to_the_csv_with_its_filters(app, admin):
    page = admin.get("/admin/logs?status=error&kind=timeout").get_data(as_text=True)
    href = html.unescape(re.search(r'href="([^"]+)" download>Download CSV', page).group(1))
    assert href.startswith("/admin/logs.csv?") and "status=error" in href and "kind=timeout" in href


def test_the_csv_is_read_in_batches_and_keeps_every_row(app, admin, monkeypatch):
    monkeypatch.setattr(log_queries, "BATCH_SIZE", 7)
    for n in range(30):
        add_row(app, n // 4, latency_ms=n)
    rows = csv_rows(admin.get("/admin/logs.csv"))[1:]
    assert sorted(int(row[8]) for row in rows) == list(range(30))


# Detail


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_the_detail_of_a_failure_shows_its_troubleshooting_card(app, admin, kind):
    row = add_row(app, 0, status="error", error_kind=str(kind), error_message="provider said no")
    page = admin.get(f"/admin/logs/{row}").get_data(as_text=True)
    t = TROUBLES[kind]
    for text in (t.title, t.symptom, t.cause, t.fix, "provider said no"):
        assert escape(text) in page
    if t.setting:
        with app.test_request_context():
            assert f'href="{url_for(t.setting)}">Open the page that fixes it' in page


def test_the_detail_shows_the_other_attempts_of_the_same_message_in_order(app, admin):
    contact = add_contact(app)
    message = add_message(app, contact, "Is it in stock?", reply="Yes, two left.")
    first = add_row(app, 0, contact_id=contact, message_id=message, status="error")
    second = add_row(app, 1, contact_id=contact, message_id=message, attempt=2, status="error")
    third = add_row(app, 2, contact_id=contact, message_id=message, attempt=3)
    add_row(app, 3, contact_id=contact, message_id=add_message(app, contact, "Thanks"))
    page = admin.get(f"/admin/logs/{second}").get_data(as_text=True)
    attempts = page[page.index('id="attempts"') :]
    assert re.findall(r'href="/admin/logs/(\d+)"', attempts) == [str(first), str(third)]
    assert "(this one)" in attempts
    assert "Is it in stock?" in page and "Yes, two left." in page


def test_the_detail_pretty_prints_the_request_and_hides_anything_like_a_key(app, admin):
    body = '{"model": "openai/gpt-4o-mini", "note": "Bearer abc.def", "k": "' + API_KEY + '"}'
    row = add_row(app, 0, status="error", request_body=body, response_body="<html>502</html>",
                  error_message=f"Invalid key {API_KEY}")  # fmt: skip
    page = admin.get(f"/admin/logs/{row}").get_data(as_text=True)
    assert API_KEY not in page and "abc.def" not in page
    assert "&#34;model&#34;: &#34;openai/gpt-4o-mini&#34;,\n" in page
    assert "sk-or-…" in page and "&lt;html&gt;502&lt;/html&gt;" in page


def test_a_model_not_found_detail_offers_the_catalog_checks_suggestions(app, admin):
    with app.app_context():
        state.put(
            "catalog_check",
            {"ok": True, "count": 2, "missing": {"openai/gpt-4o-minni": ["openai/gpt-4o-mini"]}},
        )
    row = add_row(app, 0, status="error", error_kind="model_not_found", http_status=404,
                  model_requested="openai/gpt-4o-minni")  # fmt: skip
    page = admin.get(f"/admin/logs/{row}").get_data(as_text=True)
    assert "Current IDs closest to it:" in page and "<code>openai/gpt-4o-mini</code>" in page


def test_the_detail_of_a_missing_row_is_404(admin):
    assert admin.get("/admin/logs/12345").status_code == 404


# Safety


def test_script_looking_customer_text_is_inert_on_the_list_and_the_detail(app, admin):
    contact = add_contact(app, name=SCRIPT)
    message = add_message(app, contact, SCRIPT, reply=SCRIPT)
    row = add_row(app, 0, contact_id=contact, message_id=message, model_used=SCRIPT)
    for url in ("/admin/logs", f"/admin/logs?q={SCRIPT}", f"/admin/logs/{row}"):
        page = admin.get(url).get_data(as_text=True)
        assert SCRIPT not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("url", ["/admin/logs", "/admin/logs/1", "/admin/logs.csv?status=ok"])
def test_every_log_page_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# End to end


def test_a_retried_reply_is_logged_listed_detailed_and_exported_without_the_key(
    client, admin, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.replay("doc_error_503_service_unavailable.json", status=503, path=CHAT_PATH)
    fake_openrouter.reply("Back again.")
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    wait_for(fake_graph.sent_texts)
    response = admin.get("/admin/logs?contact=16505551234")
    _send, ok, failed = shown_ids(response)
    assert "<bdi>Sheena Nelson</bdi> (+16505551234)" in response.get_data(as_text=True)
    page = admin.get(f"/admin/logs/{failed}").get_data(as_text=True)
    assert escape(TROUBLES[ErrorKind.UPSTREAM_UNAVAILABLE].fix) in page
    assert f'href="/admin/logs/{ok}"' in page and "Back again." in page
    assert "Does it come in another color?" in page
    export = admin.get("/admin/logs.csv").get_data(as_text=True)
    assert API_KEY not in export and "sk-or-" not in export
    rows = list(csv.DictReader(io.StringIO(export)))
    assert [(r["status"], r["error_kind"], r["model_requested"]) for r in rows] == [
        ("ok", "", ""),  # the send to WhatsApp
        ("ok", "", "openai/gpt-4o-mini"),
        ("error", "upstream_unavailable", "openai/gpt-4o-mini"),
    ]
    assert rows[2]["hint"] == TROUBLES[ErrorKind.UPSTREAM_UNAVAILABLE].fix
    assert API_KEY not in page


RLO, ZWSP = "\u202e", "\u200b"  # right-to-left override, zero-width space


def test_the_log_detail_shows_hidden_characters_the_customer_and_provider_sent(app, admin):
    contact = add_contact(app, name=f"Ana{RLO}4321")
    asked = add_message(app, contact, f"Refund to NL91{ZWSP}ABNA", reply=f"Done{RLO}")
    row = add_row(app, 0, contact_id=contact, message_id=asked, status="error",
                  error_kind="bad_request", error_message=f"Invalid{ZWSP} input")  # fmt: skip
    page = admin.get(f"/admin/logs/{row}").get_data(as_text=True)
    rlo = '<span class="hidden-char" title="right-to-left override">&lt;U+202E&gt;</span>'
    zwsp = '<span class="hidden-char" title="zero width space">&lt;U+200B&gt;</span>'
    assert f"<dd><bdi>Ana{rlo}4321</bdi> (+16505551234)</dd>" in page
    assert f'<pre class="prompt">Refund to NL91{zwsp}ABNA</pre>' in page
    assert f'<pre class="prompt">Done{rlo}</pre>' in page
    assert f'<p class="provider-message">Invalid{zwsp} input</p>' in page
    assert RLO not in page and ZWSP not in page
    listing = admin.get("/admin/logs").get_data(as_text=True)
    assert f"<bdi>Ana{rlo}4321</bdi> (+16505551234)" in listing and RLO not in listing


def test_the_csv_names_a_contact_without_the_hidden_characters_of_their_name(app, admin):
    add_row(app, 0, contact_id=add_contact(app, name=f"\u2067Ana{RLO}{ZWSP}4321\u2069"))
    assert csv_rows(admin.get("/admin/logs.csv"))[1][2] == "Ana4321 (+16505551234)"


@pytest.mark.parametrize("width", [390, 1280])
def test_the_log_with_hidden_characters_fits_the_screen(page, live_server, app, width):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 800})
    contact = add_contact(app, name=f"{RLO}{ZWSP}" * 12 + "Ana")
    asked = add_message(app, contact, f"IBAN{ZWSP}" * 30, reply=f"Done{RLO}" * 20)
    row = add_row(app, 0, contact_id=contact, message_id=asked)
    sign_in(page, live_server)
    for path in ("/admin/logs", f"/admin/logs/{row}"):
        page.goto(f"{live_server}{path}")
        expect(page.locator(".hidden-char").first).to_be_visible()
        # The page's own content, not the bar above it: a table scrolls in its own box.
        main = page.locator("main")
        assert main.evaluate("m => m.scrollWidth - m.clientWidth") <= 0, (path, width)
        assert main.evaluate("m => m.getBoundingClientRect().right") <= width, (path, width)
