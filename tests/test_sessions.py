"""Admin sessions end: sign-out, a password change and the account page sign a cookie out."""

from tests.conftest import ADMIN_PASSWORD, Browser


def copy_of(app, browser):
    """Another client holding the same session cookie, as a thief with a copied cookie would."""
    other = app.test_client()
    other.set_cookie("session", browser.client.get_cookie("session").value)
    return Browser(other)


def new_password(admin, password="a brand new pw"):
    admin.get("/account/password")
    return admin.post(
        "/account/password",
        {"current_password": ADMIN_PASSWORD, "new_password": password, "confirm": password},
    )


def test_a_copied_cookie_gets_the_login_page_after_sign_out(app, admin):
    thief = copy_of(app, admin)
    assert thief.get("/admin/").status_code == 200
    admin.post("/logout")
    response = thief.get("/admin/", follow_redirects=True)
    assert response.request.path == "/login"


def test_a_password_change_signs_out_the_other_sessions_and_keeps_this_one(app, admin):
    laptop = Browser(app.test_client())
    assert laptop.login().status_code == 302
    assert new_password(admin).status_code == 302
    assert laptop.get("/admin/", follow_redirects=True).request.path == "/login"
    assert admin.get("/admin/").status_code == 200


def test_the_account_page_lists_the_sessions_with_their_address(app, admin):
    Browser(app.test_client()).login(environ_base={"REMOTE_ADDR": "198.51.100.23"})
    page = admin.get("/account/password").get_data(as_text=True)
    assert "198.51.100.23" in page and "127.0.0.1" in page
    assert "this session" in page


def test_ending_a_session_from_the_account_page_signs_that_browser_out(app, admin):
    from webapp.extensions import db
    from webapp.models import AdminSession

    phone = Browser(app.test_client())
    phone.login(environ_base={"REMOTE_ADDR": "198.51.100.23"})
    with app.app_context():
        row = db.session.scalar(db.select(AdminSession).filter_by(address="198.51.100.23"))
    admin.get("/account/password")
    response = admin.post(f"/account/sessions/{row.id}/end", follow_redirects=True)
    assert b"That session is signed out." in response.data
    assert phone.get("/admin/", follow_redirects=True).request.path == "/login"
    assert admin.get("/admin/").status_code == 200


def test_another_admins_session_cannot_be_ended(app, admin):
    from webapp.extensions import db
    from webapp.models import AdminSession, User

    with app.app_context():
        maria = User(username="maria")
        maria.set_password("marias password")
        db.session.add(maria)
        db.session.commit()
    marias = Browser(app.test_client())
    marias.login(username="maria", password="marias password")
    with app.app_context():
        row = db.session.scalar(db.select(AdminSession).join(User).filter(User.username == "maria"))
    admin.get("/account/password")
    assert admin.post(f"/account/sessions/{row.id}/end").status_code == 404
    assert marias.get("/admin/").status_code == 200


def test_a_password_set_from_the_command_line_signs_the_admin_out(app, admin, runner):
    result = runner.invoke(args=["create-admin", "owner"], env={"ADMIN_PASSWORD": "set by hand"})
    assert result.exit_code == 0, result.output
    assert admin.get("/admin/", follow_redirects=True).request.path == "/login"
