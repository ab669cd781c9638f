"""`flask --app wsgi costs [--month YYYY-MM]`: the cost card's figures in a terminal."""

import click
from flask.cli import with_appcontext

from . import card as cost_card
from .card import plain


def _month(ctx, param, value):
    if value is None:
        return None
    try:
        return cost_card.parse_month(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("costs")
@click.option("--month", callback=_month, metavar="YYYY-MM",
              help="A month of the owner's time zone; this month when left out.")  # fmt: skip
@with_appcontext
def costs(month) -> None:
    """What the assistant cost in a month: total, projection, by channel, by model, budgets,
    and Meta's messages counted."""
    found = cost_card.figures(month)
    click.echo(f"Costs of {found.label} (the owner's time zone)")
    click.echo(f"Total so far: {plain(found.total)}")
    click.echo(f"Projection: {found.projection_words()}")
    click.echo("By channel:")
    for _, words, dollars in found.by_channel:
        click.echo(f"  {words}: {plain(dollars)}")
    click.echo("By model:")
    for model, dollars, calls in found.by_model:
        click.echo(f"  {model}: {plain(dollars)} ({calls} calls)")
    if not found.by_model:
        click.echo("  No calls to a model.")
    click.echo("Budgets:")
    for bar in found.bars:
        click.echo(f"  {bar.words()}")
    if not found.bars:
        click.echo("  None set." if found.current else "  Shown for the current month only.")
    click.echo(
        f"Meta's messages: {found.meta_billable} billable, {found.meta_free} not billable "
        f"(counts, not prices: see {cost_card.META_PRICING})"
    )
    for billable, category, count in found.meta:
        click.echo(f"  {'billable' if billable else 'not billable'}, {category}: {count}")
