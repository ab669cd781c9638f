"""Every admin page, with a shop's worth of data, fits a phone and a laptop and passes axe-core.

A page fits when the page itself never scrolls sideways and nothing sticks out past the
viewport's right edge, except inside a box that scrolls on its own, which then shows a hint.
Each page is saved whole as a screenshot in a temporary folder, to look at. With SCREENSHOTS_DIR
set (`make screenshots` sets it to docs/screenshots), the first screen of the pages the docs show
is saved there instead, at the widths they are shown at.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import ENVIRONMENT, migrated_app, served_in_thread
from tests.support import showcase
from tests.support.browser import misfits, serious_violations, sign_in
from tests.support.databases import kept_database_config
from webapp.extensions import db


@dataclass(frozen=True)
class Page:
    name: str  # the screenshot's file name
    path: str  # formatted with the showcase's ids: {contact}, {log_row}, {trial}
    signed_in: bool = True
    status: int = 200
    docs: tuple[str, ...] = ()  # the widths at which the README and docs show it


# One line per page: a new page is a new line.
PAGES = [
    Page("sign-in", "/login", signed_in=False),
    Page("dashboard", "/admin/", docs=("desktop", "phone")),
    Page("try-it", "/admin/try", docs=("phone",)),
    Page("conversations", "/admin/conversations"),
    Page("conversation", "/admin/conversations/{contact}", docs=("phone",)),
    Page("conversation-needs-you", "/admin/conversations/{waiting}"),
    Page("log", "/admin/logs"),
    Page("log-row", "/admin/logs/{log_row}"),
    Page("compare", "/admin/trials"),
    Page("trial", "/admin/trials/{trial}"),
    Page("models", "/admin/models?q=llama", docs=("desktop",)),
    Page("prompt", "/admin/prompt"),
    Page("prompt-template", "/admin/prompt?template=business"),
    Page("knowledge", "/admin/knowledge"),
    Page("tokens", "/admin/tokens"),
    Page("templates", "/admin/templates"),
    Page("template-picker", "/admin/conversations/{closed}?template={template}"),
    Page("knowledge-hours", "/admin/knowledge/hours"),
    Page("knowledge-gaps", "/admin/knowledge/gaps"),
    Page("settings", "/admin/settings", docs=("desktop",)),
    Page("account", "/account/password"),
    Page("not-found", "/admin/no-such-page", status=404),
    Page("not-found-signed-out", "/no-such-page", signed_in=False, status=404),
]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
TAP_TARGET = 44  # CSS pixels: the smallest button a thumb hits reliably

# Buttons and menu links a thumb must hit, with their height where it is too small.
SMALL_TARGETS = """(least) => [...document.querySelectorAll('button, .topbar a, .skip-link')]
  .filter((el) => el.checkVisibility() && el.getBoundingClientRect().height < least)
  .map((el) => `${el.tagName.toLowerCase()} "${el.textContent.trim()}": `
               + `${Math.round(el.getBoundingClientRect().height)} px`)"""


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    """Saves a page once per width: see the module's docstring for where and how much of it."""
    for_docs = bool(os.environ.get("SCREENSHOTS_DIR"))
    folder = Path(os.environ["SCREENSHOTS_DIR"]) if for_docs else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    saved = set()

    def save(page, spec: Page, viewport: str) -> None:
        shot = folder / f"{spec.name}-{viewport}.png"
        if shot in saved or (for_docs and viewport not in spec.docs):
            return
        page.screenshot(path=shot, full_page=not for_docs)
        saved.add(shot)

    return save


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The shop's data, served: pages are only read here, so every test shares one."""
    with pytest.MonkeyPatch.context() as patch, kept_database_config() as database:
        for name in ENVIRONMENT:
            patch.delenv(name, raising=False)
        app = migrated_app(tmp_path_factory.mktemp("shop") / "instance", database)
        ids = showcase.fill(app)
        with served_in_thread(app) as url:
            yield url, ids
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def browsers(chromium, shop):
    """A browser window per viewport, signed in as the owner, and one signed out."""
    url, _ = shop
    windows = {}
    for name, size in VIEWPORTS.items():
        windows[name, False] = chromium.new_context(viewport=size)
        windows[name, True] = chromium.new_context(viewport=size)
        page = windows[name, True].new_page()
        sign_in(page, url)
        page.wait_for_url(f"{url}/admin/settings")
        page.close()
    yield windows
    for window in windows.values():
        window.close()


@pytest.fixture(params=VIEWPORTS)
def viewport(request) -> str:
    return request.param


@pytest.fixture
def opened(request, shop, browsers, viewport, screenshots):
    """The page at the viewport, as the owner sees it; saved as a screenshot the first time."""
    spec: Page = request.param
    url, ids = shop
    page = browsers[viewport, spec.signed_in].new_page()
    page.set_default_timeout(10_000)
    response = page.goto(url + spec.path.format(**vars(ids)))
    assert response.status == spec.status
    page.wait_for_load_state("load")
    yield page
    screenshots(page, spec, viewport)
    page.close()


every_page = pytest.mark.parametrize("opened", PAGES, ids=[p.name for p in PAGES], indirect=True)


@every_page
def test_the_page_never_scrolls_sideways(opened):
    assert not misfits(opened), "\n".join(misfits(opened))


@every_page
def test_axe_finds_nothing_serious(opened):
    found = serious_violations(opened)
    assert not found, "\n".join(found)


@every_page
@pytest.mark.parametrize("viewport", ["phone"])  # a mouse hits smaller buttons
def test_buttons_are_big_enough_for_a_thumb(opened):
    small = opened.evaluate(SMALL_TARGETS, TAP_TARGET)
    assert not small, "smaller than a thumb:\n" + "\n".join(small)


def test_on_a_phone_the_menu_opens_from_a_button_a_keyboard_reaches(shop, browsers):
    url, _ = shop
    page = browsers["phone", True].new_page()
    page.goto(url + "/admin/")
    button = page.get_by_role("button", name="Menu")
    link = page.get_by_role("link", name="Conversations")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(link).to_be_hidden()

    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(link).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("nav").get_by_role("link", name="Dashboard")).to_be_focused()

    page.keyboard.press("Escape")
    expect(link).to_be_hidden()
    expect(button).to_be_focused()
    page.close()


def test_on_a_laptop_the_menu_is_always_shown(shop, browsers):
    url, _ = shop
    page = browsers["desktop", True].new_page()
    page.goto(url + "/admin/")
    expect(page.get_by_role("link", name="Conversations")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    page.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_keyboard_focus_is_visible(shop, browsers, viewport):
    url, _ = shop
    page = browsers[viewport, True].new_page()
    page.goto(url + "/admin/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    ring = skip.evaluate("(el) => getComputedStyle(el).outlineStyle")
    assert ring == "solid"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.closest('main') !== null")
    assert focused, "the skip link leads past the menu into the page"
    page.close()


def test_password_managers_know_which_field_is_which(shop, browsers):
    url, _ = shop
    page = browsers["phone", False].new_page()
    page.goto(url + "/login")
    expect(page.get_by_label("Username")).to_have_attribute("autocomplete", "username")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    page.close()
    page = browsers["phone", True].new_page()
    page.goto(url + "/account/password")
    expect(page.get_by_label("Current password")).to_have_attribute(
        "autocomplete", "current-password"
    )
    for new in ("New password", "New password again"):
        expect(page.get_by_label(new, exact=True)).to_have_attribute("autocomplete", "new-password")
    page.close()
