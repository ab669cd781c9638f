"""Try it in a real browser, on a phone and on a laptop: a conversation with the assistant that
remembers, the error card of a wrong key, Start over; no sideways scrolling, and axe-core finds
nothing serious."""

import pytest
from playwright.sync_api import expect

from tests.support.browser import misfits, serious_violations, sign_in
from tests.support.fakes import CHAT_PATH
from tests.support.replies import only_default_model
from tests.support.try_it import openrouter_only
from webapp.troubleshooting import ErrorKind, trouble

SIZES = [pytest.param((390, 844), id="phone"), pytest.param((1280, 800), id="laptop")]


def looked_at(page, size, tmp_path, name: str) -> None:
    """The page fits the window, axe-core passes it, and a screenshot is kept to look at."""
    assert misfits(page) == []
    assert serious_violations(page) == []
    page.screenshot(path=tmp_path / f"{name}-{size[0]}x{size[1]}.png", full_page=True)


def open_try_it(page, live_server, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/try")
    page.evaluate("window.notReloaded = true")  # gone if a send reloads the page


def send(page, text: str) -> None:
    page.fill("#message", text)
    page.click("#try-form button[type=submit]")


@pytest.mark.parametrize("size", SIZES)
def test_a_three_message_conversation_that_remembers(
    page, live_server, app, fake_openrouter, worker, size, tmp_path
):
    openrouter_only(app, fake_openrouter.base_url)
    fake_openrouter.echo(delay=0.4, every_message=True)
    open_try_it(page, live_server, size)
    expect(page.locator(".try-empty")).to_contain_text("No messages yet.")
    answers = page.locator(".bubble.from-bot:not(.typing) .text")

    send(page, "Hi, I am Ana.")
    expect(page.locator(".bubble.typing")).to_contain_text("typing…")
    expect(page.locator("#message")).to_have_value("")
    expect(answers).to_have_text(["echo: Hi, I am Ana."])
    send(page, "Do you repair e-bikes?")
    expect(answers.nth(1)).to_have_text("echo: Hi, I am Ana. / Do you repair e-bikes?")
    send(page, "What was my name?")
    expect(answers.nth(2)).to_have_text(
        "echo: Hi, I am Ana. / Do you repair e-bikes? / What was my name?"
    )

    expect(page.locator(".bubble.typing")).to_have_count(0)
    expect(page.locator(".bubble.from-customer .text")).to_have_text(
        ["Hi, I am Ana.", "Do you repair e-bikes?", "What was my name?"]
    )
    expect(page.locator(".answer-meta").last).to_contain_text("openai/gpt-4o-mini")
    expect(page.locator(".answer-meta").last).to_contain_text(" ms")
    expect(page.locator(".answer-meta").last).to_contain_text("$")
    expect(page.locator("#try-status")).to_have_text("The assistant answered.")
    assert page.evaluate("window.notReloaded === true")  # answered in place, no reload
    looked_at(page, size, tmp_path, "try-it-conversation")


@pytest.mark.parametrize("size", SIZES)
def test_a_wrong_key_shows_the_error_card_and_start_over_empties_it(
    page, live_server, app, fake_openrouter, worker, size, tmp_path
):
    openrouter_only(app, fake_openrouter.base_url)
    only_default_model(app)
    fake_openrouter.replay("error_401_user_not_found.json", 401, path=CHAT_PATH)
    open_try_it(page, live_server, size)

    send(page, "Are you open today?")
    card = page.locator(".try-failure .trouble")
    expect(card).to_contain_text(trouble(ErrorKind.INVALID_KEY).title)
    expect(card).to_contain_text(trouble(ErrorKind.INVALID_KEY).fix)
    expect(card.locator("a")).to_have_attribute("href", "/admin/settings")
    looked_at(page, size, tmp_path, "try-it-wrong-key")

    page.click("button:has-text('Start over')")
    expect(page.locator(".flash-success")).to_contain_text("Started over")
    expect(page.locator("#try-conversation .bubble")).to_have_count(0)
    expect(page.locator(".try-empty")).to_be_visible()


@pytest.mark.parametrize("size", SIZES)
def test_without_a_worker_the_page_says_nobody_answers(page, live_server, app, size, tmp_path):
    open_try_it(page, live_server, size)
    expect(page.locator("#try-no-key")).to_contain_text("No OpenRouter key is saved yet")
    send(page, "Hello?")
    expect(page.locator(".bubble.typing")).to_be_visible()
    expect(page.locator("#try-no-worker")).to_contain_text("the worker is not running")
    expect(page.locator(".try-reload")).to_be_hidden()  # the script follows the answer itself
    looked_at(page, size, tmp_path, "try-it-no-worker")


def test_without_javascript_the_page_refreshes_itself_until_the_answer_is_there(
    chromium, live_server, app, fake_openrouter, worker
):
    openrouter_only(app, fake_openrouter.base_url)
    fake_openrouter.echo(delay=1.5)  # long enough to see the page wait
    context = chromium.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server)
        page.goto(f"{live_server}/admin/try")
        send(page, "When do you open?")
        expect(page.locator(".bubble.from-customer .text")).to_have_text(["When do you open?"])
        expect(page.locator(".try-reload")).to_contain_text("Waiting for the answer")
        # Nobody clicks anything: the page loads itself again until the answer is there.
        expect(page.locator(".bubble.from-bot .text")).to_have_text(["echo: When do you open?"])
        expect(page.locator(".bubble.typing")).to_have_count(0)
        send(page, "And on Sunday?")
        expect(page.locator(".bubble.from-bot .text")).to_have_text(
            ["echo: When do you open?", "echo: And on Sunday?"]
        )
    finally:
        context.close()
