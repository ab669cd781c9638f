"""`flask --app wsgi contacts lift NUMBER`: answer a limited customer again at once."""

import click
from flask.cli import with_appcontext

from .. import contacts
from ..display import hidden_chars
from ..extensions import db
from . import limits


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
