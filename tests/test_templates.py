"""Message templates: synced from Meta over every page, their variables, sends when the
24-hour window is closed, checked before they go, logged with name and category."""

import html
import json
import re
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import PHONE_NUMBER_ID
from tests.support.fake_graph import API_PREFIX, fixture_bytes
from tests.support.records import add_contact, text_of, thread_url
from tests.support.templates import (
    WABA_ID,
    documented,
    named,
    positional,
    rejected,
    with_business_account,
)
from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog, WhatsAppTemplate
from webapp.people import templates

CUSTOMER = "16505551234"
MESSAGES_PATH = f"{API_PREFIX}/{PHONE_NUMBER_ID}/messages"
CLOSED = timedelta(hours=30)


def stored(app) -> dict[tuple[str, str], WhatsAppTemplate]:
    with app.app_context():
        rows = db.session.scalars(select(WhatsAppTemplate)).all()
        db.session.expunge_all()
        return {(row.name, row.language): row for row in rows}


def rows(app, model) -> list:
    with app.app_context():
        found = db.session.scalars(select(model).order_by(model.id)).all()
        db.session.expunge_all()
        return found


def synced(app, fake_graph, runner, *listed, page_size=2):
    with_business_account(app)
    fake_graph.host_templates(WABA_ID, list(listed), page_size=page_size)
    result = runner.invoke(args=["templates", "sync"])
    assert result.exit_code == 0, result.output
    return result


def template_id(app, name: str) -> int:
    return next(t.id for (n, _), t in stored(app).items() if n == name)


def test_sync_reads_every_page_by_its_after_cursor(whatsapp, fake_graph, runner):
    listed = [positional(f"reminder_{n}") for n in range(5)]
    result = synced(whatsapp, fake_graph, runner, *listed, page_size=2)
    assert "Synced 5 templates (5 approved)" in result.output
    asked = fake_graph.template_requests()
    assert [q.get("after") for q in asked] == [None, ["cursor2"], ["cursor4"]]
    assert all("parameter_format" in q["fields"][0] and q["limit"] == ["100"] for q in asked)
    assert sorted(name for name, _ in stored(whatsapp)) == [f"reminder_{n}" for n in range(5)]


def test_meta_documented_answer_is_stored_as_listed(whatsapp, fake_graph, runner):
    with_business_account(whatsapp)
    fake_graph.replay("templates_list.json")
    result = runner.invoke(args=["templates", "sync"])
    assert result.exit_code == 0 and "Synced 1 templates (1 approved)" in result.output
    [row] = stored(whatsapp).values()
    assert (row.name, row.language, row.status, row.category, row.meta_id) == (
        "order_delivery_update", "en_US", "APPROVED", "UTILITY", "1667192013751005"
    )  # fmt: skip
    assert json.loads(row.components) == documented()["components"]
    assert [v.label for v in templates.variables(row)] == ["Body {{1}}", "Body {{2}}"]
    assert "location" in templates.cannot_send(row)  # a location header needs a place
    assert len(fake_graph.template_requests()) == 1  # cursors but no `next`: the last page


def test_a_later_sync_removes_what_meta_no_longer_lists(whatsapp, fake_graph, runner):
    synced(whatsapp, fake_graph, runner, positional(), named(), rejected())
    assert set(stored(whatsapp)) == {
        ("appointment_reminder", "en_US"), ("order_ready", "pt_BR"), ("summer_sale", "en_US")
    }  # fmt: skip
    assert stored(whatsapp)[("summer_sale", "en_US")].rejected_reason == "PROMOTIONAL"
    paused = positional() | {"status": "PAUSED"}
    result = synced(whatsapp, fake_graph, runner, paused)
    assert "2 no longer listed by Meta removed" in result.output
    assert [(k, t.status) for k, t in stored(whatsapp).items()] == [
        (("appointment_reminder", "en_US"), "PAUSED")
    ]


def test_sync_without_the_business_account_id_says_where_to_find_it(whatsapp, runner):
    result = runner.invoke(args=["templates", "sync"])
    assert result.exit_code != 0
    assert "WhatsApp > API Setup" in result.output and "Settings" in result.output


def test_sync_refused_by_graph_shows_metas_words_and_keeps_the_list(whatsapp, fake_graph, runner):
    synced(whatsapp, fake_graph, runner, positional())
    fake_graph.queue(401, fixture_bytes("send_error_190_token_expired.json"))
    result = runner.invoke(args=["templates", "sync"])
    assert result.exit_code != 0 and "Meta did not list the templates" in result.output
    assert "EAAG-test-access-token" not in result.output
    assert list(stored(whatsapp)) == [("appointment_reminder", "en_US")]  # nothing lost
    [log] = [r for r in rows(whatsapp, RequestLog) if r.operation == "templates"]
    assert (log.status, log.error_kind) == ("error", "whatsapp_auth")


def test_templates_list_names_language_status_category_and_variables(whatsapp, fake_graph, runner):
    synced(whatsapp, fake_graph, runner, positional(), named(), rejected())
    lines = runner.invoke(args=["templates", "list"]).output.splitlines()
    assert lines[0].split("  ") == [
        "appointment_reminder", "en_US", "APPROVED", "UTILITY",
        "Header {{1}}, Body {{1}}, Body {{2}}",
    ]  # fmt: skip
    assert lines[1].split("  ")[:4] == ["order_ready", "pt_BR", "APPROVED", "UTILITY"]
    assert lines[1].endswith("Body {{first_name}}, Body {{order_id}}")
    assert "REJECTED" in lines[2] and "(rejected: PROMOTIONAL)" in lines[2]


def as_row(listed: dict) -> WhatsAppTemplate:
    return WhatsAppTemplate(name=listed["name"], language=listed["language"], status="APPROVED",
                            parameter_format=listed.get("parameter_format"),
                            components=json.dumps(listed["components"]))  # fmt: skip


def test_positional_and_named_templates_render_and_fill_their_components():
    numbered = as_row(positional())
    values = {"header_1": "B-17", "body_1": "Ana", "body_2": "Friday 10:00"}
    assert templates.render(numbered, values) == (
        "Booking B-17\n\nHello Ana, your appointment is on Friday 10:00. Reply to change it."
        "\n\nLima Dental"
    )
    assert templates.components_for(numbered, values) == [
        {"type": "header", "parameters": [{"type": "text", "text": "B-17"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                        {"type": "text", "text": "Friday 10:00"}]},
    ]  # fmt: skip
    by_name = as_row(named())
    values = {"body_first_name": "Ana", "body_order_id": "566701"}
    assert templates.render(by_name, values) == "Hi Ana, order 566701 is ready for you."
    assert templates.components_for(by_name, values) == [
        {"type": "body", "parameters": [
            {"type": "text", "text": "Ana", "parameter_name": "first_name"},
            {"type": "text", "text": "566701", "parameter_name": "order_id"}]},
    ]  # fmt: skip


def test_values_whatsapp_would_refuse_are_named_field_by_field():
    template = as_row(positional())
    errors = templates.check(
        template, {"header_1": "x" * 61, "body_1": "Ana\nLima", "body_2": "   "}
    )
    assert "At most 60 characters" in errors["header_1"]
    assert "line break" in errors["body_1"]
    assert "Fill in Body {{2}}" in errors["body_2"]
    assert "4 spaces" in templates.check(template, {"body_1": "a     b"})["body_1"]


def picker_page(admin, contact, template=None):
    url = thread_url(contact) + (f"?template={template}" if template else "")
    return admin.get(url).get_data(as_text=True)


def test_a_closed_window_offers_the_approved_templates_and_sends_one(
    admin, whatsapp, fake_graph, runner
):
    synced(whatsapp, fake_graph, runner, positional(), named(), rejected(), documented())
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=CLOSED)
    page = picker_page(admin, contact)
    offered = re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', page)
    assert offered == ["appointment_reminder (en_US, utility)", "order_ready (pt_BR, utility)"]
    chosen = template_id(whatsapp, "appointment_reminder")
    page = picker_page(admin, contact, chosen)
    assert re.findall(r'<label for="var-(\w+)"', page) == ["header_1", "body_1", "body_2"]
    response = admin.post(
        f"{thread_url(contact)}/template",
        {"template": chosen, "header_1": "B-17", "body_1": "Ana", "body_2": "Friday 10:00"},
        follow_redirects=True,
    )
    assert "Template appointment_reminder sent to Ana." in text_of(response)
    [(to, name, given)] = fake_graph.sent_templates()
    assert (to, name) == (CUSTOMER, "appointment_reminder")
    assert given[1]["parameters"][1] == {"type": "text", "text": "Friday 10:00"}
    [message] = rows(whatsapp, Message)
    assert (message.type, message.author, message.sent_by, message.state) == (
        "template", "human", "owner", "sent"
    )  # fmt: skip
    assert message.text.startswith("Booking B-17\n\nHello Ana, your appointment is on Friday")
    assert "Hello Ana, your appointment" in text_of(response)  # in the thread
    [held] = rows(whatsapp, Contact)  # pause_on_staff_reply: a team's message pauses the bot
    assert held.paused and held.resume_at is not None
    [log] = [r for r in rows(whatsapp, RequestLog) if r.operation == "template"]
    assert (log.status, log.contact_id) == ("ok", contact)
    assert json.loads(log.request_body) == {
        "template": "appointment_reminder", "language": "en_US", "category": "UTILITY"
    }  # fmt: skip


def test_bad_values_are_refused_on_their_field_before_anything_is_sent(
    admin, whatsapp, fake_graph, runner
):
    synced(whatsapp, fake_graph, runner, named())
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=CLOSED)
    chosen = template_id(whatsapp, "order_ready")
    picker_page(admin, contact, chosen)
    response = admin.post(
        f"{thread_url(contact)}/template",
        {"template": chosen, "body_first_name": "Ana\tLima <b>", "body_order_id": ""},
    )
    page = response.get_data(as_text=True)
    assert re.search(r'id="var-body_order_id"[^>]*aria-invalid="true"', page)
    assert "Fill in Body {{order_id}}" in html.unescape(page)
    assert "line break, a tab" in page
    assert 'value="Ana\tLima &lt;b&gt;"' in page  # what was typed is kept, escaped
    assert fake_graph.sent_templates() == [] and rows(whatsapp, Message) == []


def test_meta_refusing_a_template_shows_metas_reason(admin, whatsapp, fake_graph, runner):
    synced(whatsapp, fake_graph, runner, positional())
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=CLOSED)
    chosen = template_id(whatsapp, "appointment_reminder")
    picker_page(admin, contact, chosen)
    fake_graph.queue(400, fixture_bytes("send_error_132000_param_count.json"), path=MESSAGES_PATH)
    response = admin.post(
        f"{thread_url(contact)}/template",
        {"template": chosen, "header_1": "B-17", "body_1": "Ana", "body_2": "Friday"},
        follow_redirects=True,
    )
    reason = "(#132000) Number of parameters does not match the expected number of params"
    assert f"Not sent: Meta refused the template. {reason}" in text_of(response)
    [message] = rows(whatsapp, Message)
    assert (message.state, message.error_code) == ("failed", 132000)
    assert "number of localizable_params" in text_of(response)  # the thread's failure note
    [log] = [r for r in rows(whatsapp, RequestLog) if r.operation == "template"]
    assert log.status == "error" and json.loads(log.request_body)["category"] == "UTILITY"


def test_the_templates_page_lists_them_and_syncs(admin, whatsapp, fake_graph):
    page = admin.get("/admin/templates").get_data(as_text=True)
    assert "is not set" in page and 'href="/admin/settings"' in page
    with_business_account(whatsapp)
    fake_graph.host_templates(WABA_ID, [positional(), rejected()])
    admin.get("/admin/templates")
    response = admin.post("/admin/templates/sync", follow_redirects=True)
    said = text_of(response)
    assert "Synced: Meta lists 2 templates, 1 approved." in said
    assert "appointment_reminder" in said and "rejected: PROMOTIONAL" in said
    assert "Header {{1}}" in said and "is not set" not in said


def test_the_templates_page_says_how_to_create_one_when_none_is_approved(
    admin, whatsapp, fake_graph, runner
):
    synced(whatsapp, fake_graph, runner, rejected())
    said = text_of(admin.get("/admin/templates"))
    assert "No approved template can be sent yet" in said and "WhatsApp Manager" in said
