"""The cost card: the month's figures in the owner's zone, equal to what the log's CSV sums."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.support.records import add_row
from webapp import settings, state
from webapp.extensions import db
from webapp.money import card, spending

LIMA = ZoneInfo("America/Lima")  # UTC-5: the owner's month starts at 05:00 UTC


def lima(*parts) -> datetime:
    return datetime(*parts, tzinfo=LIMA).astimezone(UTC)


# (moment, channel, operation, model, cost): rows across December, January and February,
# some within minutes of the edges of January in Lima (hours from them in UTC).
ROWS = [
    (lima(2025, 12, 31, 23, 59), "whatsapp", None, "openai/gpt-4o-mini", 0.5),  # December
    (lima(2026, 1, 1, 0, 0), "whatsapp", None, "openai/gpt-4o-mini", 0.01),
    (lima(2026, 1, 1, 0, 1), "flow", None, "anthropic/claude-sonnet-4", 0.2),
    (lima(2026, 1, 15, 12, 0), "playground", None, "openai/gpt-4o-mini", 0.03),
    (lima(2026, 1, 20, 9, 0), "whatsapp", "transcription", "openai/whisper-1", 0.004),
    (lima(2026, 1, 21, 9, 0), "knowledge", "embedding", "openai/text-embedding-3-small", 0.00001),
    (lima(2026, 1, 22, 9, 0), "playground", "reading", "openai/gpt-4o-mini", 0.002),
    (lima(2026, 1, 31, 23, 59), "whatsapp", None, "openai/gpt-4o-mini", 0.07),  # 04:59 UTC Feb 1
    (lima(2026, 2, 1, 0, 0), "flow", None, "openai/gpt-4o-mini", 3.0),  # February
]
JANUARY = {"customers": 0.08, "flows": 0.2, "testing": 0.03, "media": 0.00601}


@pytest.fixture
def in_lima(app):
    with app.app_context():
        settings.save({"timezone": "America/Lima"}, author="test")
    for moment, channel, operation, model, cost in ROWS:
        add_row(app, created_at=moment, channel=channel, operation=operation,
                model_requested=model, model_used=model, cost=cost)  # fmt: skip
    add_row(app, created_at=lima(2026, 1, 9), status="error", model_used=None)  # no cost
    return app


def csv_costs(admin, query: str) -> Decimal:
    response = admin.get("/admin/logs.csv?" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    return sum((Decimal(r["cost"]) for r in rows if r["cost"]), Decimal(0))


def test_the_month_total_equals_the_csv_of_that_month_in_the_owners_zone(in_lima, admin):
    with in_lima.app_context():
        january = card.figures(date(2026, 1, 1))
    assert january.total == pytest.approx(sum(JANUARY.values()))
    assert Decimal(str(january.total)).quantize(Decimal("1e-8")) == csv_costs(
        admin, "month=2026-01"
    )
    for name, _, dollars in january.by_channel:
        assert dollars == pytest.approx(JANUARY[name]), name
        assert Decimal(str(dollars)).quantize(Decimal("1e-8")) == csv_costs(
            admin, f"month=2026-01&spent_on={name}"
        )
    with in_lima.app_context():
        assert card.figures(date(2026, 2, 1)).total == pytest.approx(3.0)
        assert card.figures(date(2025, 12, 1)).total == pytest.approx(0.5)


def test_the_card_lists_the_channels_in_order_and_each_model_with_its_calls(in_lima):
    with in_lima.app_context():
        january = card.figures(date(2026, 1, 1))
    assert [name for name, _, _ in january.by_channel] == list(spending.SPENT_ON)
    models = {model: (dollars, calls) for model, dollars, calls in january.by_model}
    assert models["openai/gpt-4o-mini"] == (pytest.approx(0.112), 5)  # the error counts as a call
    assert models["anthropic/claude-sonnet-4"] == (pytest.approx(0.2), 1)
    assert january.by_model[0][0] == "anthropic/claude-sonnet-4"  # the costliest first
    assert january.projection is None and not january.bars  # a past month


def test_the_month_filter_and_the_dates_narrow_each_other(in_lima, admin):
    assert csv_costs(admin, "month=2026-01&since=2026-01-31") == Decimal("0.07")
    assert csv_costs(admin, "month=2026-01&until=2026-01-01&spent_on=flows") == Decimal("0.2")


@pytest.mark.parametrize(
    ("month", "said"),
    [("2026-13", "is not a month: write it as YYYY-MM"), ("abc", "is not a month"),
     ("2026-1", "is not a month"), ("2026-01-01", "is not a month"),
     ("9999-12", "is too far off"), ("0001-01", "is too far off")],
)  # fmt: skip
def test_a_wrong_month_or_channel_is_refused_in_plain_words(admin, month, said):
    page = admin.get(f"/admin/logs?month={month}").get_data(as_text=True)
    assert f"&#39;{month}&#39; {said}" in page
    response = admin.get(f"/admin/logs.csv?month={month}")
    assert response.status_code == 400
    assert said in response.get_data(as_text=True)
    response = admin.get("/admin/logs.csv?spent_on=lunch")
    assert response.status_code == 400 and "'lunch' is not what costs are for" in response.text


def test_this_months_projection_runs_the_pace_so_far_to_the_months_end(app):
    add_row(app, created_at=datetime.now(UTC) - timedelta(seconds=1), cost=1.0)
    with app.app_context():
        settings.save({"monthly_budget": "4", "daily_budget": "1"}, author="test")
        now = card.figures()
    assert now.current and now.total == pytest.approx(1.0)
    assert now.projection == pytest.approx(1.0 / now.elapsed)
    assert now.projection >= 1.0 and "if the pace so far" in now.projection_words()
    bars = {bar.period: bar for bar in now.bars}
    assert bars["monthly"].percent == 25 and bars["daily"].percent == 100
    assert (
        bars["monthly"].words() == "$1.00 of the monthly budget of $4.00 spent this month (25 %)."
    )


def test_costs_prints_the_cards_figures(in_lima, runner):
    result = runner.invoke(args=["costs", "--month", "2026-01"])
    assert result.exit_code == 0, result.output
    assert "Costs of January 2026" in result.output
    assert "Total so far: $0.32" in result.output
    assert "Flows: $0.20" in result.output
    assert "anthropic/claude-sonnet-4: $0.20 (1 calls)" in result.output
    assert "A past month: nothing to project." in result.output
    assert "0 billable, 0 not billable" in result.output


@pytest.mark.parametrize(
    ("month", "said"),
    [("2026-13", "'2026-13' is not a month: write it as YYYY-MM"),
     ("abc", "'abc' is not a month: write it as YYYY-MM"),
     ("9999-12", "'9999-12' is too far off: choose a month from 1970 to 9998.")],
)  # fmt: skip
def test_costs_refuses_a_wrong_month(runner, month, said):
    result = runner.invoke(args=["costs", "--month", month])
    assert result.exit_code != 0
    assert said in result.output


def now_row(app, cost: float, **fields) -> None:
    add_row(app, created_at=datetime.now(UTC) - timedelta(seconds=2), cost=cost, **fields)


def test_the_dashboard_shows_the_card_with_links_to_the_log_of_the_month(app, admin):
    now_row(app, 0.42, channel="flow")
    now_row(app, 0.08, channel="playground", model_used="anthropic/claude-sonnet-4")
    with app.app_context():
        key = card.figures().key
    page = admin.get("/admin/").get_data(as_text=True)
    assert "What the assistant costs" in page and "$0.50" in page
    assert "No budget is set." in page
    assert f"/admin/logs?month={key}&amp;spent_on=flows" in page
    assert "$0.42" in page and "anthropic/claude-sonnet-4" in page
    assert card.META_PRICING in page
    assert 'id="budget-banner"' not in page


def test_the_banner_follows_a_budget_change_at_once(app, admin):
    now_row(app, 16.8)
    with app.app_context():
        settings.save({"monthly_budget": "20"}, author="test")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "You have used 84 % of this month&#39;s budget of $20.00." in page
    with app.app_context():
        settings.save({"monthly_budget": "100"}, author="test")
    assert 'id="budget-banner"' not in admin.get("/admin/").get_data(as_text=True)
    with app.app_context():
        settings.save({"monthly_budget": "10", "budget_action": "handoff"}, author="test")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "The monthly budget of $10.00 is spent" in page
    assert "customers get the handoff reply and are handed over to you" in page
    assert "#monthly_budget" in page


def cost_card_of(page: str) -> str:
    return page[page.index('id="cost-card"') :].split("</section>")[0]


def test_on_a_big_log_the_page_reads_the_kept_sums_but_the_budget_as_it_is_now(app, admin):
    now_row(app, 5.0)
    with app.app_context():
        card.refresh()  # the worker's job
        kept = state.get(card.KEPT_AS)
        kept["took_ms"] = 900  # as summing a big log takes
        state.put(card.KEPT_AS, kept)
        db.session.commit()
    now_row(app, 12.0)  # after the worker summed: shown at its next run
    shown = cost_card_of(admin.get("/admin/").get_data(as_text=True))
    assert "$5.00" in shown and "$17.00" not in shown
    with app.app_context():
        settings.save({"monthly_budget": "20"}, author="test")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "You have used 85 % of this month&#39;s budget of $20.00." in page
    assert "$17.00 of the monthly budget of $20.00 spent this month (85 %)." in page
    with app.app_context():
        kept["computed_at"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        state.put(card.KEPT_AS, kept)
        db.session.commit()
    shown = cost_card_of(admin.get("/admin/").get_data(as_text=True))
    assert "$17.00 <span" in shown  # too old: summed now


def test_costs_without_a_month_prints_this_month_with_its_projection_and_budgets(app, runner):
    now_row(app, 2.0, channel="playground")
    with app.app_context():
        settings.save({"monthly_budget": "8"}, author="test")
    result = runner.invoke(args=["costs"])
    assert result.exit_code == 0, result.output
    assert "Total so far: $2.00" in result.output
    assert "Try it and Compare: $2.00" in result.output
    assert "if the pace so far" in result.output
    assert "$2.00 of the monthly budget of $8.00 spent this month (25 %)." in result.output
