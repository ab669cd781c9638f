"""Get started: the dashboard opens on the setup steps until they are done; Back up now."""

import io
import os
import re
import sqlite3
import tarfile
from datetime import timedelta

import pytest

from tests.conftest import ADMIN_PASSWORD, Browser
from tests.support import setup_steps
from tests.support.records import add_contact, add_message, ago, text_of
from webapp import prompts, settings
from webapp.admin.get_started import unreachable_reason
from webapp.data import backups

STEPS = ("step-key", "step-model", "step-prompt", "step-try", "step-whatsapp")


def step_states(page: str) -> dict[str, str]:
    return dict(re.findall(r'<li class="\w+" id="(step-\w+)" data-done="(yes|no)"', page))


def signed_in_at(app, next_page: str) -> str:
    browser = Browser(app.test_client())
    browser.get(f"/login?next={next_page}")
    response = browser.client.post(
        f"/login?next={next_page}",
        data={"csrf_token": browser.csrf, "username": "owner", "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 302
    return response.headers["Location"]


def test_the_first_page_after_sign_in_without_a_key_is_get_started(app):
    assert signed_in_at(app, "/admin/settings") == "/admin/"


def test_once_a_key_is_saved_sign_in_goes_where_it_was_asked(app):
    setup_steps.save_key(app)
    assert signed_in_at(app, "/admin/settings") == "/admin/settings"


def test_a_fresh_install_opens_on_get_started_before_the_figures(admin):
    page = admin.get("/admin/").get_data(as_text=True)
    assert page.index('id="get-started"') < page.index('class="figures"')
    assert step_states(page) == {
        "step-key": "no",
        "step-model": "yes",  # the starting table has a default
        "step-prompt": "no",
        "step-try": "no",
        "step-whatsapp": "no",
    }
    assert "1 of 5 steps done" in text_of(page)
    assert 'href="/admin/try"' in page
    assert 'href="/admin/settings#openrouter_api_key"' in page


def test_each_step_is_marked_done_when_its_work_is(app, admin):
    setup_steps.save_key(app)
    page = admin.get("/admin/").get_data(as_text=True)
    assert step_states(page)["step-key"] == "no"  # saved, not yet tested
    assert "Test the saved key" in page
    setup_steps.key_tested(app, ok=False)
    page = admin.get("/admin/").get_data(as_text=True)
    assert step_states(page)["step-key"] == "no" and "Wrong API key" in text_of(page)
    setup_steps.key_tested(app)
    setup_steps.write_prompt(app)
    setup_steps.tried_it(app)
    states = step_states(admin.get("/admin/").get_data(as_text=True))
    assert [states[s] for s in STEPS] == ["yes", "yes", "yes", "yes", "no"]


def test_when_every_step_is_done_the_dashboard_opens_on_the_figures(app, admin):
    setup_steps.finish_setup(app)
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="get-started"' not in page
    assert "<h2>Setup</h2>" in page  # the later milestones: first message, first reply


def test_the_template_button_fills_the_prompt_editor_without_saving(app, admin):
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/prompt?template=business"' in page
    editor = admin.get("/admin/prompt?template=business").get_data(as_text=True)
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", editor, re.S).group(1)
    for slot in ("What we sell:", "Opening hours:", "Prices:", "Delivery:", "Tone:", "not sure"):
        assert slot in textarea
    assert "Nothing is saved until then" in text_of(editor)
    with app.app_context():
        assert prompts.current_text() == prompts.INITIAL_PROMPT


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://shop.example/webhook/whatsapp", "not HTTPS"),
        ("https://127.0.0.1:5000/webhook/whatsapp", "this machine's own address"),
        ("https://localhost/webhook/whatsapp", "only this network knows"),
        ("https://192.168.1.20/webhook/whatsapp", "private address"),
        ("https://10.0.0.5/webhook/whatsapp", "private address"),
        ("https://shop/webhook/whatsapp", "only this network knows"),
        ("https://shop.example/webhook/whatsapp", None),
        ("https://203.0.113.9.nip.io/webhook/whatsapp", None),
    ],
)
def test_a_webhook_url_meta_cannot_reach_is_named(url, reason):
    found = unreachable_reason(url)
    assert found == reason if reason is None else reason in found


def test_the_whatsapp_step_warns_until_the_public_address_is_https(app, admin):
    page = admin.get("/admin/").get_data(as_text=True)
    assert "http://localhost/webhook/whatsapp" in page
    assert 'id="webhook-not-public"' in page
    with app.app_context():
        settings.save({"public_url": "https://shop.example"}, author="test")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "https://shop.example/webhook/whatsapp" in page
    assert 'id="webhook-not-public"' not in page


def a_customer_wrote(app) -> None:
    contact = add_contact(app, "31611111111", "Ana", wrote=timedelta(hours=1))
    add_message(app, contact, "customer", "Is the sourdough ready?", "answered", ago(hours=1))


@pytest.mark.sqlite_only("Back up now copies the SQLite file")
def test_the_backup_warning_waits_until_there_are_conversations(app, admin):
    assert 'id="backup-warning"' not in admin.get("/admin/").get_data(as_text=True)
    a_customer_wrote(app)
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="backup-warning"' in page and "Back up now" in page
    assert ".venv/bin/flask --app wsgi backup ~/switchboard-backups/" in page


@pytest.mark.sqlite_only("Back up now copies the SQLite file")
def test_back_up_now_downloads_the_archive_with_the_database(app, admin, tmp_path):
    a_customer_wrote(app)
    response = admin.post("/admin/backup")
    assert response.status_code == 200
    assert response.mimetype == "application/gzip"
    disposition = response.headers["Content-Disposition"]
    assert re.search(r"attachment; filename=switchboard-\d{4}-\d\d-\d\d\.tar\.gz", disposition)
    with tarfile.open(fileobj=io.BytesIO(response.get_data()), mode="r:gz") as archive:
        assert backups.DATABASE in archive.getnames()
        database = archive.extractfile(backups.DATABASE).read()
    copy = tmp_path / "downloaded.db"
    copy.write_bytes(database)
    with sqlite3.connect(copy) as connection:
        texts = [text for (text,) in connection.execute("SELECT text FROM messages")]
    assert "Is the sourdough ready?" in texts
    leftovers = [name for name in os.listdir(app.instance_path) if "backup" in name]
    assert leftovers == []  # nothing of the download stays on the server
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="backup-warning"' not in page
    assert "downloaded as" in text_of(page)


def test_back_up_now_is_refused_without_the_forms_token(app, admin):
    response = admin.client.post("/admin/backup")
    assert response.status_code == 400
    assert response.mimetype != "application/gzip"


def test_back_up_now_is_refused_to_a_signed_out_visitor(app, browser):
    browser.get("/login")
    response = browser.post("/admin/backup")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert response.mimetype != "application/gzip"
