"""Trials on the Compare page: models and prompt drafts side by side, answered by the worker."""

import html
import json
import re
import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.conftest import wait_for
from tests.support.fakes import CHAT_PATH, fixture_bytes
from tests.support.install import STARTING_IDS as SEVEN
from tests.support.processes import skewed_clock, start_worker_process, worker_started
from tests.support.records import add_contact, add_message, ago
from tests.support.replies import MARKER_ASK
from webapp import catalog, catalog_data, content, media_store, prompts, trials
from webapp.extensions import db
from webapp.models import PromptVersion, RequestLog, Trial, TrialCell, utcnow
from webapp.worker import trial_cells
from webapp.worker.process import Worker

CHEAP, SMART = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6"
RETIRED = "perplexity/sonar"
CUSTOMER = "16505551234"


def saved_prompt(app) -> str:
    with app.app_context():
        return prompts.current_text()


def start(admin, app, models=(CHEAP, SMART), **fields):
    """POST the Compare form the way the page does; the prompt field holds the saved one."""
    data = {"models": list(models), "prompt": saved_prompt(app), "source": "typed",
            "message": "When do you open on Sunday?", "customer": "", "last_n": "5"}  # fmt: skip
    return admin.post("/admin/trials", data={**data, **fields})


def started(admin, app, **fields) -> int:
    response = start(admin, app, **fields)
    assert response.status_code == 302, text_of(response)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def finished(app, trial_id: int) -> Trial:
    def done():
        with app.app_context():
            trial = db.session.get(Trial, trial_id)
            db.session.expunge_all()
            return trial if trial.state == "done" else None

    return wait_for(done)


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def column(page: str, part: str, model: str) -> str:
    """The text of every `part` ("cell" or "totals") of one model's column on the trial page."""
    cells = re.findall(
        rf'<td class="{part}[^"]*" data-model="{re.escape(model)}">(.*?)</td>', page, re.S
    )
    return " ".join(" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells)


def chat_bodies(fake) -> list[dict]:
    return [r.json() for r in fake.requests if r.path == CHAT_PATH]


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def trial_app(whatsapp, fake_openrouter, worker):
    """Configured, with a worker answering and a model that echoes the question."""
    fake_openrouter.echo()
    fake_openrouter.fail_model(RETIRED, "error_404_no_endpoints_for_model.json", 404)
    return whatsapp


def test_each_model_answers_in_its_column_and_a_failing_one_shows_its_error_card(admin, trial_app):
    trial_id = started(admin, trial_app, models=[CHEAP, RETIRED])
    finished(trial_app, trial_id)
    page = text_of(admin.get(f"/admin/trials/{trial_id}"))
    assert "echo: When do you open on Sunday?" in column(page, "cell", CHEAP)
    failed = column(page, "cell", RETIRED)
    assert "Model not found" in failed and "No endpoints found" in failed
    assert "0 failed" in column(page, "totals", CHEAP)
    assert "1 failed" in column(page, "totals", RETIRED)


def test_a_cell_shows_latency_tokens_and_cost_and_the_column_its_totals(
    admin, trial_app, fake_openrouter
):
    fake_openrouter.reply("Open 10 to 16.", CHEAP, prompt_tokens=40, completion_tokens=8, cost=0.25)
    trial_id = started(admin, trial_app, models=[CHEAP])
    finished(trial_app, trial_id)
    page = text_of(admin.get(f"/admin/trials/{trial_id}"))
    cell = column(page, "cell", CHEAP)
    assert "Open 10 to 16." in cell and "48 tokens" in cell and "$0.25" in cell
    assert re.search(r"\d+ ms", cell)
    assert re.search(r"median \d+ ms · \$0\.25 ·", column(page, "totals", CHEAP))


def test_a_failing_model_is_shown_failing_and_never_answered_by_another(
    admin, trial_app, fake_openrouter
):
    trial_id = started(admin, trial_app, models=[RETIRED])
    finished(trial_app, trial_id)
    bodies = chat_bodies(fake_openrouter)
    assert [body["model"] for body in bodies] == [RETIRED]
    assert not bodies[0].get("models")  # no fallback route either
    with trial_app.app_context():
        cell = db.session.scalar(select(TrialCell))
        assert (cell.state, cell.error_kind) == ("failed", "model_not_found")


def test_every_call_of_a_trial_is_logged_with_channel_playground(admin, trial_app):
    trial_id = started(admin, trial_app, models=[CHEAP, RETIRED])
    finished(trial_app, trial_id)
    with trial_app.app_context():
        rows = db.session.execute(
            select(RequestLog.channel, RequestLog.status, RequestLog.model_requested)
        ).all()
    assert sorted(rows) == [("playground", "error", RETIRED), ("playground", "ok", CHEAP)]


def test_a_draft_prompt_is_what_the_models_see_and_the_saved_prompt_stays(
    admin, trial_app, fake_openrouter
):
    draft, saved = "You answer for Bram's Bikes. Always answer in French.", saved_prompt(trial_app)
    trial_id = started(admin, trial_app, models=[CHEAP], prompt=draft)
    finished(trial_app, trial_id)
    [body] = chat_bodies(fake_openrouter)
    assert body["messages"][0]["content"].startswith(draft + "\n\nWhat you know right now:")
    assert body["messages"][0]["content"].endswith(MARKER_ASK)
    assert saved_prompt(trial_app) == saved


def test_save_as_the_prompt_makes_the_draft_a_new_version(admin, trial_app):
    draft = "You answer for Bram's Bikes in Ghent."
    trial_id = started(admin, trial_app, models=[CHEAP], prompt=draft)
    versions = count(trial_app, PromptVersion)
    assert "Save as the prompt" in text_of(admin.get(f"/admin/trials/{trial_id}"))
    response = admin.post(f"/admin/trials/{trial_id}/save-prompt", follow_redirects=True)
    assert "saved as the prompt" in text_of(response)
    assert saved_prompt(trial_app) == draft
    assert count(trial_app, PromptVersion) == versions + 1


def test_the_saved_prompt_unchanged_is_no_draft_and_offers_no_save(admin, trial_app):
    trial_id = started(admin, trial_app, models=[CHEAP])
    with trial_app.app_context():
        assert db.session.get(Trial, trial_id).prompt is None
    assert "Save as the prompt" not in text_of(admin.get(f"/admin/trials/{trial_id}"))


def test_make_default_from_a_column_makes_that_model_the_default(admin, trial_app):
    trial_id = started(admin, trial_app, models=[CHEAP, SMART])
    response = admin.post(f"/admin/trials/{trial_id}/columns/1/make-default", follow_redirects=True)
    assert f"{SMART} is now the default model." in text_of(response)
    with trial_app.app_context():
        assert catalog.default_model().model_id == SMART


def test_replayed_messages_are_asked_with_the_memory_each_had_then(
    admin, trial_app, fake_openrouter
):
    contact = add_contact(trial_app, CUSTOMER, "Sheena")
    for author, text, state, hours in [
        ("customer", "Hi there", "answered", 5),
        ("bot", "Hello! How can I help?", "read", 4.9),
        ("customer", "What does a tyre cost?", "answered", 4),
        ("bot", "A tyre is 20 euro.", "read", 3.9),
        ("customer", "And a bell?", "answered", 3),
        ("bot", "A bell is 5 euro.", "read", 2.9),
    ]:
        add_message(trial_app, contact, author, text, state, ago(hours=hours))
    trial_id = started(admin, trial_app, models=[CHEAP], source="replay", last_n="2")
    finished(trial_app, trial_id)
    asked = {
        body["messages"][-1]["content"]: body["messages"] for body in chat_bodies(fake_openrouter)
    }
    assert set(asked) == {"What does a tyre cost?", "And a bell?"}
    tyre = [m["content"] for m in asked["What does a tyre cost?"][1:]]
    assert tyre == ["Hi there", "Hello! How can I help?", "What does a tyre cost?"]
    bell = [m["content"] for m in asked["And a bell?"][1:]]
    assert bell[-3:] == ["What does a tyre cost?", "A tyre is 20 euro.", "And a bell?"]
    assert "A bell is 5 euro." not in bell


def last_asked(fake, model: str) -> list:
    return [b["messages"][-1]["content"] for b in chat_bodies(fake) if b["model"] == model]


def test_a_replayed_photo_is_shown_only_to_the_model_that_can_see_it(
    admin, trial_app, fake_openrouter
):
    photo = b"\xff\xd8\xff\xe0" + b"a bent hinge " * 50
    with trial_app.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
        kept = media_store.store(photo, media_store.folder(), "image/jpeg")
    contact = add_contact(trial_app, CUSTOMER, "Sheena")
    message_id = add_message(trial_app, contact, "customer", "Is this broken?", "answered",
                             ago(minutes=5), type="image", media_file=kept.name,
                             media_mime="image/jpeg", media_size=kept.size)  # fmt: skip
    trial_id = started(admin, trial_app, source="replay", last_n="1")  # CHEAP sees, SMART not
    finished(trial_app, trial_id)
    seen = {"type": "image_url", "image_url": {"url": content.data_url("image/jpeg", photo)}}
    assert last_asked(fake_openrouter, CHEAP) == [
        [{"type": "text", "text": "[Photo]\nIs this broken?"}, seen]
    ]
    assert last_asked(fake_openrouter, SMART) == ["[A photo you cannot see]\nIs this broken?"]
    page = text_of(admin.get(f"/admin/trials/{trial_id}"))
    assert f'<img class="trial-photo" src="/admin/media/{message_id}"' in page
    assert "cannot see photos" in column(page, "cell", SMART)
    assert "cannot see photos" not in column(page, "cell", CHEAP)


def test_replayed_voice_notes_and_pdfs_are_asked_as_their_text(admin, trial_app, fake_openrouter):
    contact = add_contact(trial_app, CUSTOMER, "Sheena")
    for fields in [
        {"type": "audio", "media_text": "Do you open on Sunday?"},
        {"type": "document", "media_name": "invoice.pdf", "media_text": "Invoice 2291: 40 euro"},
        {"type": "sticker"},  # nothing to read: not replayed
    ]:
        add_message(trial_app, contact, "customer", None, "answered", ago(minutes=5), **fields)
    trial_id = started(admin, trial_app, models=[CHEAP], source="replay", last_n="3")
    finished(trial_app, trial_id)
    assert sorted(last_asked(fake_openrouter, CHEAP)) == [
        "[Document: invoice.pdf]\nInvoice 2291: 40 euro",
        "[Voice note] Do you open on Sunday?",
    ]


def test_a_typed_message_as_a_known_customer_is_asked_with_their_memory(
    admin, trial_app, fake_openrouter
):
    contact = add_contact(trial_app, CUSTOMER, "Sheena")
    add_message(trial_app, contact, "customer", "My bike is a Gazelle.", "answered", ago(hours=1))
    add_message(trial_app, contact, "bot", "Noted: a Gazelle.", "read", ago(minutes=59))
    trial_id = started(admin, trial_app, models=[CHEAP], customer="+1 650-555-1234")
    finished(trial_app, trial_id)
    [body] = chat_bodies(fake_openrouter)
    contents = [m["content"] for m in body["messages"][1:]]
    assert contents == ["My bike is a Gazelle.", "Noted: a Gazelle.", "When do you open on Sunday?"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"models": SEVEN}, "Pick at most 6 models; 7 were picked."),
        ({"models": []}, "Pick at least one model."),
        ({"source": "replay", "last_n": "0"}, "Replay from 1 to 20 messages."),
        ({"source": "replay", "last_n": "21"}, "Replay from 1 to 20 messages."),
        ({"message": "   "}, "Type the message the models should answer."),
        ({"customer": "+44 7700 900123"}, "No customer has the number +44 7700 900123."),
        ({"prompt": ""}, "The prompt cannot be empty"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message_and_nothing_starts(
    admin, app, fields, problem
):
    response = start(admin, app, **fields)
    assert response.status_code == 200
    page = text_of(response)
    assert problem in page and "Nothing was started" in page
    assert count(app, Trial) == 0 and count(app, TrialCell) == 0


def test_a_refused_form_keeps_what_was_typed(admin, app):
    page = text_of(start(admin, app, message="Do you rent tandems?", customer="+44 7700 900123"))
    assert "Do you rent tandems?" in page


def test_a_disabled_model_cannot_be_tried(admin, app):
    with app.app_context():
        catalog.set_role(SMART, catalog.DISABLED)
    page = text_of(start(admin, app, models=[CHEAP, SMART]))
    assert f"{SMART}: not in the model table, or disabled there." in page
    assert count(app, Trial) == 0


def test_replay_with_no_customer_messages_says_there_is_nothing_to_replay(admin, app):
    page = text_of(start(admin, app, source="replay", last_n="3"))
    assert "nothing to replay" in page


def test_a_trial_waiting_for_the_worker_shows_its_progress_for_the_script(admin, app):
    trial_id = started(admin, app, models=[CHEAP, SMART])
    page = text_of(admin.get(f"/admin/trials/{trial_id}"))
    assert f'data-poll="/admin/trials/{trial_id}/progress"' in page
    assert "0 of 2 answers" in page
    progress = admin.get(f"/admin/trials/{trial_id}/progress").get_json()
    assert progress == {"ended": 0, "total": 2, "done": False}


def test_trials_are_kept_listed_and_can_be_reopened(admin, app):
    first = started(admin, app, models=[CHEAP])
    second = started(admin, app, models=[CHEAP, SMART], message="Do you repair e-bikes?")
    page = text_of(admin.get("/admin/trials"))
    assert page.index(f"#{second}") < page.index(f"#{first}")  # newest first
    assert "Do you repair e-bikes?" in text_of(admin.get(f"/admin/trials/{second}"))


def test_a_cell_whose_worker_stopped_is_claimed_again_once_its_lease_runs_out(admin, app):
    trial_id = started(admin, app, models=[CHEAP])
    with app.app_context():
        [lost] = trial_cells.claim("host:1", 8)
        assert trial_cells.claim("host:2", 8) == []  # held: nobody else takes it
        db.session.execute(
            TrialCell.__table__.update().values(lease_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        [again] = trial_cells.claim("host:2", 8)
        assert (again.cell_id, again.runs) == (lost.cell_id, 2)
        trial_cells._finish(lost, state="done", reply="late answer")  # the fence refuses it
        assert db.session.get(TrialCell, lost.cell_id).state == "running"
        trial_cells._finish(again, state="done", reply="the answer")
        assert db.session.get(Trial, trial_id).state == "done"


def test_a_restarted_worker_takes_the_answers_its_dead_predecessor_held_at_once(
    admin, whatsapp, fake_openrouter
):
    fake_openrouter.echo()
    trial_id = started(admin, whatsapp, models=[CHEAP])
    host, gone = socket.gethostname(), 2**22 + 1  # above Linux's highest pid: never alive
    with whatsapp.app_context():
        trial_cells.claim(f"{host}:{gone}", 8)
    worker = Worker(whatsapp, threads=2, poll=0.01).start()  # its lease has not run out…
    try:
        finished(whatsapp, trial_id)  # …yet the restart answers it without waiting
    finally:
        worker.stop()


def test_a_worker_whose_clock_runs_an_hour_ahead_leaves_a_running_answer_to_its_worker(
    admin, whatsapp, fake_openrouter, tmp_path
):
    fake_openrouter.echo()
    trial_id = started(admin, whatsapp, models=[CHEAP])
    with whatsapp.app_context():
        [held] = trial_cells.claim("elsewhere:1", 8)  # a worker on another host is answering
    ahead = start_worker_process(whatsapp, tmp_path / "ahead.log", **skewed_clock(3600))
    try:
        wait_for(lambda: worker_started(whatsapp, ahead), timeout=30)
        time.sleep(2.5)  # it looks for answers whose lease ran out at every claim
        assert chat_bodies(fake_openrouter) == []
        with whatsapp.app_context():  # now that worker stops: its lease runs out
            db.session.execute(
                update(TrialCell).values(lease_until=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
        finished(whatsapp, trial_id)
    finally:
        ahead.terminate()
        ahead.wait(timeout=30)
    with whatsapp.app_context():
        cell = db.session.get(TrialCell, held.cell_id)
        assert (cell.holder, cell.runs) == (f"{socket.gethostname()}:{ahead.pid}", 2)
    assert len(chat_bodies(fake_openrouter)) == 1


@pytest.mark.parametrize("path", ["/admin/trials", "/admin/trials/1", "/admin/trials/1/progress"])
def test_the_pages_need_a_login(client, app, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_trial_is_404(admin):
    assert admin.get("/admin/trials/999").status_code == 404


def test_the_trials_module_starts_a_grid_of_pending_cells(app):
    with app.app_context():
        trial = trials.start([CHEAP, SMART], prompts.current_text(), "typed", "owner", text="Hi")
        assert count(app, TrialCell, TrialCell.trial_id == trial.id) == 2
        assert trials.progress(trial.id) == {"ended": 0, "total": 2, "done": False}


def test_a_trial_runs_end_to_end_in_the_browser(page, live_server, trial_app, fake_openrouter):
    from playwright.sync_api import expect

    from tests.support.browser import sign_in

    fake_openrouter.echo(delay=0.3)  # slow enough to see the page wait for the answers
    sign_in(page, live_server)
    page.click("nav >> text=Compare")
    page.check(f"input[value='{CHEAP}']")
    page.check(f"input[value='{RETIRED}']")
    page.fill("#message", "Do you sell bells?")
    page.fill("#prompt", "You answer for Bram's Bikes.")
    page.click("text=Run the trial")
    expect(page.locator("#trial-progress")).to_contain_text("Done: 2 answers.")
    expect(page.locator(f"td.cell[data-model='{CHEAP}']")).to_contain_text(
        "echo: Do you sell bells?"
    )
    expect(page.locator(f"td.cell[data-model='{RETIRED}']")).to_contain_text("Model not found")
    expect(page.locator(f"td.totals[data-model='{RETIRED}']")).to_contain_text("1 failed")

    expect(page.locator(f"th[data-model='{CHEAP}'] .badge")).to_have_text("Default")
    page.locator(f"th[data-model='{RETIRED}'] button:has-text('Make default')").click()
    expect(page.locator(".flash-success")).to_contain_text(f"{RETIRED} is now the default")
    page.click("button:has-text('Save as the prompt')")
    expect(page.locator(".flash-success")).to_contain_text("saved as the prompt")
    with trial_app.app_context():
        assert catalog.default_model().model_id == RETIRED
        assert prompts.current_text() == "You answer for Bram's Bikes."
