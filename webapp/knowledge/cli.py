"""`flask --app wsgi knowledge …`: the owner's knowledge from the command line."""

import click
from flask.cli import AppGroup

from ..display.times import when
from . import gaps, sources

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


@knowledge_cli.command("gaps")
def list_gaps() -> None:
    """The questions the assistant could not answer, most asked first."""
    open_gaps = gaps.listed(gaps.OPEN, limit=1000)
    if not open_gaps:
        click.echo("No open questions: the assistant answered everything it was asked.")
    for gap in open_gaps:
        # A customer's words: no control character of theirs reaches the terminal.
        question = " ".join("".join(c if c.isprintable() else " " for c in gap.question).split())
        click.echo(f"{gap.asks}×  {question}  (last asked {when(gap.last_asked)})")
