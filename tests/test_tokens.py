"""Flow keys: made on the command line or the Flow keys page, shown once, counted, revoked."""

import re

import pytest
from sqlalchemy import select, text

from tests.support.flows import GUIDE_BODY, OPENROUTER_KEY, URL
from webapp import tokens
from webapp.extensions import db
from webapp.models import FlowToken

TOKEN = re.compile(r"sb-[A-Za-z0-9_-]{40,}")


def created(runner, name="wa-expert") -> str:
    result = runner.invoke(args=["tokens", "create", name])
    assert result.exit_code == 0, result.output
    [token] = TOKEN.findall(result.output)
    return token


def post(client, token=None, header=None):
    headers = {"Authorization": header or f"Bearer {token}"} if header or token else {}
    return client.post(URL, json=GUIDE_BODY, headers=headers)


def test_tokens_create_prints_an_sb_token_once_and_keeps_only_its_hash(runner, app):
    token = created(runner)
    with app.app_context():
        stored = db.session.execute(text("SELECT * FROM flow_tokens")).one()
    assert token not in str(tuple(stored)) and stored.token_hash == tokens.hash_of(token)
    assert token not in runner.invoke(args=["tokens", "list"]).output


def test_tokens_list_shows_name_created_last_used_and_requests(
    runner, client, whatsapp, fake_openrouter
):
    token = created(runner)
    fake_openrouter.echo()
    post(client, token)
    post(client, token)
    output = runner.invoke(args=["tokens", "list"]).output
    assert re.search(
        r"wa-expert\s+sb-…\S{4}\s+created \S+ \S+\s+last used \S+ \S+\s+requests 2", output
    )


def test_a_token_never_used_is_listed_as_never_used(runner, app):
    created(runner)
    assert "last used never  requests 0" in runner.invoke(args=["tokens", "list"]).output


def test_a_revoked_token_gets_401(runner, client, whatsapp):
    token = created(runner)
    assert runner.invoke(args=["tokens", "revoke", "wa-expert"]).exit_code == 0
    response = post(client, token)
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "Unknown or revoked flow key."


def test_revoking_an_unknown_name_fails_with_a_clear_message(runner, app):
    result = runner.invoke(args=["tokens", "revoke", "nobody"])
    assert result.exit_code != 0 and "There is no token called 'nobody'" in result.output


def test_a_second_live_token_with_the_same_name_is_refused(runner, app):
    created(runner)
    result = runner.invoke(args=["tokens", "create", "wa-expert"])
    assert result.exit_code != 0 and "exists already" in result.output


def test_a_revoked_tokens_name_can_be_given_to_a_new_token(runner, client, whatsapp):
    old = created(runner)
    runner.invoke(args=["tokens", "revoke", "wa-expert"])
    new = created(runner)
    assert post(client, old).status_code == 401
    assert post(client, new).status_code != 401


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (None, "no 'Authorization: Bearer …' header"),
        ("Bearer sb-not-a-token-anyone-made", "Unknown or revoked flow key."),
        (f"Bearer {OPENROUTER_KEY}", "That is an OpenRouter key, not a flow key"),
        ("Basic d2E6ZXhwZXJ0", "must read 'Bearer '"),
    ],
    ids=["missing", "unknown", "openrouter key", "not bearer"],
)
def test_a_request_without_a_live_token_gets_401_in_openrouters_shape(
    client, whatsapp, fake_openrouter, header, words
):
    response = client.post(
        URL, json=GUIDE_BODY, headers={"Authorization": header} if header else {}
    )
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert (error["code"], error["kind"]) == (401, "invalid_key") and words in error["message"]
    assert "Flow keys page" in error["hint"]
    assert OPENROUTER_KEY not in response.get_data(as_text=True)
    assert fake_openrouter.requests == []


def test_ten_wrong_tokens_from_an_address_get_429_with_retry_after(
    runner, client, whatsapp, fake_openrouter
):
    token = created(runner)
    fake_openrouter.echo()
    for _ in range(10):
        assert post(client, "sb-wrong").status_code == 401
    response = post(client, "sb-wrong")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert response.get_json()["error"]["kind"] == "rate_limited"
    # The right key from the same address is answered: a stranger's guesses never lock it out.
    assert post(client, token).status_code == 200


def test_wrong_tokens_from_one_address_do_not_throttle_another(runner, whatsapp, fake_openrouter):
    token = created(runner)
    fake_openrouter.echo()
    attacker = whatsapp.test_client()
    for _ in range(10):
        attacker.post(URL, json=GUIDE_BODY, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert post(whatsapp.test_client(), token).status_code == 200


def test_the_tokens_page_shows_a_new_token_once(admin, app):
    admin.get("/admin/tokens")
    response = admin.post("/admin/tokens", {"name": "wa-expert"})
    [token] = TOKEN.findall(response.get_data(as_text=True))
    assert response.headers["Cache-Control"] == "no-store"
    again = admin.get("/admin/tokens").get_data(as_text=True)
    assert token not in again and f"sb-…{token[-4:]}" in again


def test_the_tokens_page_refuses_a_bad_name_and_keeps_nothing(admin, app):
    admin.get("/admin/tokens")
    response = admin.post("/admin/tokens", {"name": "no/slashes"})
    assert response.status_code == 400
    assert "The name of a flow key has" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(FlowToken)) is None


def test_revoking_on_the_tokens_page_refuses_the_token(admin, app, client, whatsapp):
    with app.app_context():
        row, token = tokens.create("wa-expert")
        row_id = row.id
    admin.get("/admin/tokens")
    response = admin.post(f"/admin/tokens/{row_id}/revoke", follow_redirects=True)
    assert "revoked" in response.get_data(as_text=True)
    assert post(client, token).status_code == 401


def test_the_tokens_page_needs_a_signed_in_admin(client):
    assert client.get("/admin/tokens").status_code == 302
