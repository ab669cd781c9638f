"""`flask --app wsgi templates …`: the business account's message templates, from the CLI."""

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import WhatsAppTemplate
from . import templates

templates_cli = AppGroup("templates", help="Message templates: sync them from Meta, list them.")


@templates_cli.command("sync")
def sync() -> None:
    """Fetch every template of the WhatsApp Business Account from Meta."""
    try:
        synced = templates.sync_from_settings(current_app.config)
    except templates.SyncRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Synced {synced.listed} templates ({synced.approved} approved); "
        f"{synced.removed} no longer listed by Meta removed."
    )


@templates_cli.command("list")
def list_templates() -> None:
    """Each template: name, language, status, category and its variables."""
    rows = db.session.scalars(
        select(WhatsAppTemplate).order_by(WhatsAppTemplate.name, WhatsAppTemplate.language)
    ).all()
    if not rows:
        click.echo("No templates. Run `templates sync` after setting whatsapp_business_account_id.")
        return
    for row in rows:
        blanks = ", ".join(v.label for v in templates.variables(row)) or "no variables"
        line = f"{row.name}  {row.language}  {row.status}  {row.category or '-'}  {blanks}"
        if reason := row.rejected_reason:
            line += f"  (rejected: {reason})"
        click.echo(line)
