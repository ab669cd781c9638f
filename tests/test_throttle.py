"""Fair sign-in throttling: counted before the check, per visitor, with a slower backstop."""

import re
import statistics
import threading
import time

import pytest
import requests

from tests.conftest import ADMIN_PASSWORD, Browser
from tests.support.databases import environment_of
from tests.support.served import serving

WRONG = b"Wrong username or password."


def sign_in(app, address, username="owner", password="nope nope"):
    """A sign-in from a browser at `address`."""
    return Browser(app.test_client()).login(
        username=username, password=password, environ_base={"REMOTE_ADDR": address}
    )


@pytest.fixture
def served(app):
    """The test's app served as `make run` serves it."""
    with serving(environment_of(app)) as url:
        yield url


def test_twenty_concurrent_wrong_passwords_get_exactly_five_checks(served):
    browsers = [requests.Session() for _ in range(20)]
    tokens = [
        re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"', b.get(served + "/login").text
        )[1]
        for b in browsers
    ]
    start, answers = threading.Barrier(20), []

    def guess(browser, token):
        form = {"csrf_token": token, "username": "owner", "password": "nope nope"}
        start.wait()
        answers.append(browser.post(served + "/login", data=form, timeout=30))

    threads = [
        threading.Thread(target=guess, args=pair) for pair in zip(browsers, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = [a for a in answers if a.status_code == 200 and WRONG in a.content]
    assert len(checked) == 5
    assert sorted(a.status_code for a in answers) == [200] * 5 + [429] * 15


def test_a_strangers_wrong_passwords_do_not_lock_out_the_admin_at_their_own_address(app):
    for _ in range(6):
        sign_in(app, "203.0.113.9")
    assert sign_in(app, "203.0.113.9", password=ADMIN_PASSWORD).status_code == 429
    assert sign_in(app, "198.51.100.7", password=ADMIN_PASSWORD).status_code == 302


def test_guesses_spread_over_many_addresses_hit_the_usernames_backstop(app):
    for number in range(20):
        assert sign_in(app, f"203.0.113.{number}").status_code == 200
    response = sign_in(app, "198.51.100.7", password=ADMIN_PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 15 * 60  # the backstop's window is an hour


def test_a_right_password_does_not_count_toward_the_backstop(app):
    for _ in range(25):
        assert sign_in(app, "198.51.100.7", password=ADMIN_PASSWORD).status_code == 302


def test_the_password_form_locks_after_five_wrong_current_passwords(admin):
    def change(current):
        admin.get("/account/password")
        new = {"new_password": "a brand new pw", "confirm": "a brand new pw"}
        return admin.post("/account/password", {"current_password": current, **new})

    for _ in range(5):
        assert b"That is not your current password." in change("not it at all").data
    response = change(ADMIN_PASSWORD)
    assert response.status_code == 429
    assert b"Too many wrong passwords." in response.data
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


def test_a_wrong_password_takes_as_long_for_an_unknown_user_as_for_a_real_one(app):
    def seconds(username, address):
        browser = Browser(app.test_client())
        browser.get("/login")
        began = time.perf_counter()
        browser.login(username, "nope nope", environ_base={"REMOTE_ADDR": address})
        return time.perf_counter() - began

    real = statistics.median(seconds("owner", f"203.0.113.{n}") for n in range(3))
    unknown = statistics.median(seconds("nobody", f"203.0.113.{n}") for n in range(3))
    assert unknown > real / 3 and real > unknown / 3


def test_a_password_set_from_the_command_line_unlocks_the_username(app, runner):
    for number in range(20):
        sign_in(app, f"203.0.113.{number}")
    result = runner.invoke(args=["create-admin", "owner"], env={"ADMIN_PASSWORD": "set by hand"})
    assert result.exit_code == 0, result.output
    assert sign_in(app, "203.0.113.1", password="set by hand").status_code == 302
