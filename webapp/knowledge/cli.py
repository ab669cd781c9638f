"""`flask --app wsgi knowledge …`: the owner's knowledge from the command line."""

import click
from flask.cli import AppGroup

from . import sources

knowledge_cli = AppGroup("knowledge", help="The knowledge the assistant answers from.")


@knowledge_cli.command("faq")
@click.argument("question")
@click.argument("answer")
def faq(question: str, answer: str) -> None:
    """Add an FAQ entry (or give an existing question a new answer)."""
    try:
        source = sources.add_faq(question, answer, author="cli")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"FAQ entry saved: {source.name}")
