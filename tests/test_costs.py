"""Costs as the owner reads them: under a cent is not free, and testing is not running costs."""

import csv
import io

from markupsafe import Markup

from tests.support.records import NOW, add_row, text_of
from webapp import stats

TINY = 0.0000387  # what one short answer of a small model costs


def test_a_cost_under_a_cent_reads_less_than_a_cent_with_the_exact_figure_on_hover():
    from webapp.display.money import money

    assert money(TINY) == Markup('<span title="$0.0000387">&lt; $0.01</span>')
    assert money(0.004) == Markup('<span title="$0.004">&lt; $0.01</span>')


def test_a_cent_or_more_reads_in_dollars_and_cents_and_nothing_spent_reads_zero():
    from webapp.display.money import money

    assert (money(0.01), money(12.3456), money(1234.5), money(0)) == (
        "$0.01", "$12.35", "$1,234.50", "$0.00"
    )  # fmt: skip
    assert money(None) == "—"


def test_the_dashboard_and_the_log_show_a_tiny_cost_as_less_than_a_cent(app, admin):
    add_row(app, created_at=NOW, cost=TINY)
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert '<span title="$0.0000387">&lt; $0.01</span>' in dashboard
    assert "$0.0000" not in text_of(admin.get("/admin/")).replace("$0.0000387", "")
    log = admin.get("/admin/logs").get_data(as_text=True)
    assert '<span title="$0.0000387">&lt; $0.01</span>' in log


def test_the_log_detail_spells_out_the_exact_cost_for_a_phone_that_cannot_hover(app, admin):
    row = add_row(app, cost=TINY)
    assert "< $0.01 ($0.0000387)" in text_of(admin.get(f"/admin/logs/{row}"))


def test_the_csv_keeps_the_exact_cost(app, admin):
    add_row(app, cost=TINY)
    rows = list(csv.reader(io.StringIO(admin.get("/admin/logs.csv").get_data(as_text=True))))
    assert rows[1][rows[0].index("cost")] == "0.0000387"


def test_compare_and_try_it_costs_are_counted_apart_from_customers(app):
    add_row(app, created_at=NOW, channel="whatsapp", cost=0.25)
    add_row(app, created_at=NOW, channel="flow", cost=0.5)
    add_row(app, created_at=NOW, channel="playground", cost=2.0)
    with app.app_context():
        today = stats.figures(stats.window(1))
        (model,) = stats.per_model(stats.window(14))
    assert (today.cost, today.test_cost) == (0.75, 2.0)
    assert (model.cost, model.test_cost) == (0.75, 2.0)


def test_the_dashboard_shows_testing_costs_apart(app, admin):
    add_row(app, created_at=NOW, channel="whatsapp", cost=0.25)
    add_row(app, created_at=NOW, channel="playground", cost=2.0)
    page = text_of(admin.get("/admin/"))
    assert "Customers' cost $0.25" in page
    assert "Testing (Compare, Try it) $2.00" in page
