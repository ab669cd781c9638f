"""`contacts lift NUMBER`, `tokens limit NAME` and `tokens lift NAME`: the limits by CLI."""

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import contacts
from ..display import hidden_chars
from ..display.money import exact_dollars
from ..extensions import db
from ..models import FlowToken
from . import flow_limits, limits


@click.command("lift")
@click.argument("number")
@with_appcontext
def contacts_lift(number: str) -> None:
    """Lift a customer's limit: answered again from their next message, counted afresh."""
    contact = contacts.find(number)
    if contact is None or contact.channel != "whatsapp":
        raise click.ClickException(f"No customer with number or id {number}.")
    name = hidden_chars.marked(contacts.name_of(contact))
    if not limits.lift(contact):
        raise click.ClickException(f"{name} is not limited: nothing to lift.")
    db.session.commit()
    click.echo(f"Lifted: {name} is answered again from their next message.")


@click.command("limit")
@click.argument("name")
@click.option("--per-hour", help="Requests per hour, or 'none'.")
@click.option("--cost-per-day", help="Dollars per day, or 'none'.")
@with_appcontext
def tokens_limit(name: str, per_hour: str | None, cost_per_day: str | None) -> None:
    """Set a flow key's own limits; past one, its flows get HTTP 429 until the period ends."""
    row = db.session.scalar(select(FlowToken).where(FlowToken.name == name.strip()))
    if row is None:
        raise click.ClickException(f"There is no flow key called '{name.strip()}'.")
    try:
        hourly = (
            row.max_requests_per_hour if per_hour is None else flow_limits.per_hour_of(per_hour)
        )
        daily = row.max_cost_per_day if cost_per_day is None else flow_limits.cost_of(cost_per_day)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    flow_limits.set_limits(row, hourly, daily)
    db.session.commit()
    hourly_words = "no limit" if hourly is None else f"{hourly}"
    daily_words = "no limit" if daily is None else exact_dollars(daily)
    click.echo(
        f"Flow key '{row.name}': requests per hour {hourly_words}, cost per day {daily_words}."
    )


@click.command("lift")
@click.argument("name")
@with_appcontext
def tokens_lift(name: str) -> None:
    """Lift a flow key's limit: its flows are answered again, counted afresh."""
    row = db.session.scalar(select(FlowToken).where(FlowToken.name == name.strip()))
    if row is None:
        raise click.ClickException(f"There is no flow key called '{name.strip()}'.")
    if not flow_limits.lift_key(row):
        raise click.ClickException(f"The flow key '{row.name}' is not limited: nothing to lift.")
    db.session.commit()
    click.echo(f"Lifted: flows with the key '{row.name}' are answered again.")


def register(contacts_cli, tokens_cli) -> None:
    contacts_cli.add_command(contacts_lift)
    tokens_cli.add_command(tokens_limit)
    tokens_cli.add_command(tokens_lift)
