"""A flow key's own limits (requests per hour, cost per day) and the limits of the customer a
flow names with `user`: past one, HTTP 429 `customer_limited` with Retry-After, nothing spent."""

import pytest
from sqlalchemy import select

from tests.support.browser import misfits, serious_violations, sign_in
from tests.support.flows import GUIDE_BODY, model_requests, rows
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, FlowToken, RequestLog, utcnow

CUSTOMER = "31612345678"


def key(app) -> FlowToken:
    with app.app_context():
        row = db.session.scalar(select(FlowToken))
        db.session.expunge_all()
        return row


def limited_rows(app) -> list[RequestLog]:
    return [r for r in rows(app) if r.error_kind == "customer_limited"]


def test_a_key_past_its_requests_per_hour_gets_429_until_lifted(
    ask, whatsapp, fake_openrouter, runner
):
    assert runner.invoke(args=["tokens", "limit", "wa-expert", "--per-hour", "2"]).exit_code == 0
    for n in range(2):
        fake_openrouter.reply(f"Answer {n}")
        assert ask(GUIDE_BODY).status_code == 200
    refused = ask(GUIDE_BODY)
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["kind"] == "customer_limited" and "2 requests within an hour" in error["message"]
    assert error["hint"] and 3500 <= int(refused.headers["Retry-After"]) <= 3601
    assert ask(GUIDE_BODY).status_code == 429
    assert len(model_requests(fake_openrouter)) == 2  # nothing spent past the limit
    assert len(limited_rows(whatsapp)) == 1  # logged once, when the key was limited
    assert all(r.flow_token_id == key(whatsapp).id for r in rows(whatsapp))
    assert key(whatsapp).limited_until > utcnow()
    assert runner.invoke(args=["tokens", "lift", "wa-expert"]).exit_code == 0
    fake_openrouter.reply("Answer 2")
    assert ask(GUIDE_BODY).status_code == 200  # counted afresh from the Lift


def test_a_key_past_its_cost_per_day_gets_429_until_midnight(ask, whatsapp, fake_openrouter):
    with whatsapp.app_context():
        db.session.execute(FlowToken.__table__.update().values(max_cost_per_day=0.01))
        db.session.commit()
    fake_openrouter.reply("Answer", cost=0.012)
    assert ask(GUIDE_BODY).status_code == 200
    refused = ask(GUIDE_BODY)
    assert refused.status_code == 429 and "$0.012 today" in refused.get_json()["error"]["message"]
    assert key(whatsapp).limited_until.hour == 0  # the owner's next midnight (UTC here)


def test_a_limited_customer_named_by_user_gets_429_and_no_limit_reply(
    ask, whatsapp, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        settings.save({"max_turns_per_customer_per_hour": "1"}, "t")
    fake_openrouter.reply("Answer")
    assert ask(GUIDE_BODY | {"user": CUSTOMER}).status_code == 200
    refused = ask(GUIDE_BODY | {"user": "+31 6 1234 5678"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3000
    assert refused.get_json()["error"]["kind"] == "customer_limited"
    assert len(model_requests(fake_openrouter)) == 1 and fake_graph.sent_texts() == []
    fake_openrouter.reply("Answer to someone else")
    assert ask(GUIDE_BODY).status_code == 200  # a flow without `user` is not them
    [contact] = rows(whatsapp, Contact)
    assert contact.limited_until > utcnow() and "1 answer within an hour" in contact.limited_why


def test_the_owner_sets_and_lifts_a_keys_limits_on_the_flow_keys_page(admin, whatsapp, token):
    row = key(whatsapp)
    saved = admin.post(f"/admin/tokens/{row.id}/limits", {"per_hour": "100", "cost": "$2.50"})
    assert saved.status_code == 302
    assert (key(whatsapp).max_requests_per_hour, key(whatsapp).max_cost_per_day) == (100, 2.5)
    with whatsapp.app_context():
        db.session.execute(
            FlowToken.__table__.update().values(limited_until=utcnow().replace(year=2100))
        )
        db.session.commit()
    page = admin.get("/admin/tokens").get_data(as_text=True)
    assert "Limited until" in page
    assert admin.post(f"/admin/tokens/{row.id}/lift").status_code == 302
    lifted = key(whatsapp)
    assert lifted.limited_until is None and lifted.limit_lifted_at is not None
    assert "Limited until" not in admin.get("/admin/tokens").get_data(as_text=True)


@pytest.mark.parametrize(
    ("per_hour", "cost"),
    [("-1", ""), ("abc", ""), ("1e309", ""), ("", "-1"), ("", "abc"), ("", "1e309")],
)
def test_bad_limits_are_refused_with_a_message_and_the_typed_values_kept(
    admin, whatsapp, token, runner, per_hour, cost
):
    row = key(whatsapp)
    refused = admin.post(f"/admin/tokens/{row.id}/limits", {"per_hour": per_hour, "cost": cost})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'role="alert"' in page
    assert f'value="{per_hour or cost}"' in page
    kept = key(whatsapp)
    assert (kept.max_requests_per_hour, kept.max_cost_per_day) == (None, None)
    option = ["--per-hour", per_hour] if per_hour else ["--cost-per-day", cost]
    result = runner.invoke(args=["tokens", "limit", "wa-expert", *option])
    assert result.exit_code == 1 and "must be" in result.output


@pytest.mark.parametrize("width", [390, 1280])
def test_a_limited_key_and_its_limits_fit_the_page(
    page, live_server, whatsapp, token, width, tmp_path
):
    with whatsapp.app_context():
        until = utcnow().replace(year=2100)
        db.session.execute(FlowToken.__table__.update().values(limited_until=until))
        db.session.commit()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/tokens")
    page.fill("input[name=per_hour]", "abc")
    page.click("button:has-text('Save limits')")
    assert page.locator("[role=alert]").is_visible()
    assert page.locator("button:has-text('Lift')").is_visible()
    page.screenshot(path=tmp_path / f"flow-keys-{width}.png", full_page=True)
    assert misfits(page) == [] and serious_violations(page) == []
