"""`flask --app wsgi knowledge …`: the owner's knowledge from the command line."""

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..display.times import when
from ..extensions import db
from ..models import KnowledgeChunk, KnowledgeSource
from ..states import SourceState
from . import gaps, indexing, sources

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


def _read_at_once(source) -> None:
    """Read the new source here, so the command works without a worker running."""
    state = indexing.read_now(source.id)
    db.session.refresh(source)
    if state == SourceState.FAILED:
        raise click.ClickException(
            f"'{source.name}' was kept but could not be read: {source.error}"
        )
    click.echo(f"Added '{source.name}': {source.chars:,} characters, {_parts(source)}.")
    if source.note:
        click.echo(f"Note: {source.note}")


def _parts(source) -> str:
    count = db.session.scalar(
        select(func.count(KnowledgeChunk.id)).where(KnowledgeChunk.source_id == source.id)
    )
    return f"{count} part{'s' if count != 1 else ''}"


@knowledge_cli.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The source's name (default: the file's name).")
def add(file: Path, name: str | None) -> None:
    """Add a file (PDF, .txt, .md, .csv, .docx) and read it."""
    if file.stat().st_size > sources.MAX_FILE_BYTES:
        raise click.ClickException(f"{file.name} is larger than 10 MB, the most a file may be.")
    try:
        source = sources.add_file(file.read_bytes(), file.name, author="cli", name=name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _read_at_once(source)


@knowledge_cli.command("add-url")
@click.argument("url")
def add_url(url: str) -> None:
    """Add a web page and fetch it."""
    try:
        source = sources.add_url(url, author="cli")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _read_at_once(source)


@knowledge_cli.command("list")
def list_sources() -> None:
    """Every source: name, kind, state, characters."""
    rows = sources.all_sources()
    for source in rows:
        state = source.state if source.state != SourceState.FAILED else f"failed: {source.error}"
        click.echo(f"{source.name}\t{source.kind}\t{state}\t{source.chars} characters")
    total = sources.totals()
    click.echo(f"{len(rows)} sources, {total.chars:,} characters, about {total.tokens:,} tokens.")


@knowledge_cli.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove a source (and its stored file) by its name."""
    source = sources.by_name(name)
    if source is None:
        raise click.ClickException(f"No source is called '{name}' (see `knowledge list`).")
    sources.remove(source)
    click.echo(f"Removed '{name}'.")


@knowledge_cli.command("reindex")
def reindex() -> None:
    """Read every file and page again and cut them anew."""
    ids = indexing.reindex_all()
    failed = 0
    for source_id in ids:
        if indexing.read_now(source_id) == SourceState.FAILED:
            failed += 1
            source = db.session.get(KnowledgeSource, source_id)
            click.echo(f"{source.name}: {source.error}", err=True)
    click.echo(f"Read {len(ids) - failed} of {len(ids)} sources again.")
    if failed:
        raise SystemExit(1)


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
