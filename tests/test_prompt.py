"""The system prompt page: edit, versions with author and time, restore."""

from webapp import prompts, settings
from webapp.prompts import INITIAL_PROMPT


def current(app):
    with app.app_context():
        return settings.get("system_prompt")


def test_the_initial_prompt_is_in_force_after_install(app):
    assert current(app) == "You are a helpful support assistant. Answer briefly."
    assert current(app) == INITIAL_PROMPT


def test_saving_a_prompt_makes_a_new_version_by_the_admin(admin, app):
    admin.get("/admin/prompt")
    response = admin.post(
        "/admin/prompt", {"text": "You sell bikes in Ghent.\r\nBe kind."}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "Prompt saved as a new version." in page
    assert current(app) == "You sell bikes in Ghent.\nBe kind."
    with app.app_context():
        newest = prompts.history()[0]
        assert newest.author == "owner"
        assert newest.created_at is not None


def test_an_unchanged_prompt_makes_no_new_version(admin, app):
    admin.get("/admin/prompt")
    admin.post("/admin/prompt", {"text": INITIAL_PROMPT})
    with app.app_context():
        assert len(prompts.history()) == 1


def test_an_empty_prompt_is_refused(admin, app):
    admin.get("/admin/prompt")
    response = admin.post("/admin/prompt", {"text": "   "})
    assert response.status_code == 200
    assert current(app) == INITIAL_PROMPT


def test_restoring_an_old_version_puts_its_text_back_in_force(admin, app):
    admin.get("/admin/prompt")
    admin.post("/admin/prompt", {"text": "First shop prompt."})
    admin.post("/admin/prompt", {"text": "Second shop prompt."})
    with app.app_context():
        first = next(v for v in prompts.history() if v.text == "First shop prompt.")
    response = admin.post(f"/admin/prompt/{first.id}/restore", follow_redirects=True)
    assert f"Version {first.id} restored".encode() in response.data
    assert current(app) == "First shop prompt."
    page = admin.get("/admin/prompt").get_data(as_text=True)
    assert "Second shop prompt." in page  # history keeps every version


def test_prompt_text_is_shown_escaped(admin):
    admin.get("/admin/prompt")
    admin.post("/admin/prompt", {"text": "<script>alert('x')</script> Be nice."})
    page = admin.get("/admin/prompt").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page
