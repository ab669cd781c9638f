"""The request log: the filtered list, one attempt in detail, and the CSV export."""

import csv
import io
import re
from zoneinfo import ZoneInfo

from flask import Response, render_template, request, stream_with_context
from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField

from .. import contacts, content
from ..display import hidden_chars, times
from ..extensions import db
from ..models import RequestLog
from ..money import spending
from ..troubleshooting import TROUBLES, ErrorKind
from . import bp, log_queries

CSV_COLUMNS = [  # the documented order (docs/admin.md), which scripts rely on
    "time", "channel", "contact", "model_requested", "model_used", "status", "http_status",
    "error_kind", "latency_ms", "prompt_tokens", "completion_tokens", "cost", "hint",
]  # fmt: skip
# What makes a spreadsheet read a cell as a formula: a starter (also its full-width and small
# forms, which some spreadsheets fold to ASCII), even after leading spaces they trim, and a cell
# that starts with a tab or carriage return once its spaces are trimmed.
FORMULA = re.compile(r"\s*[=+\-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63]| *[\t\r]")


def _any(values) -> list[SelectChoice]:
    return [SelectChoice("", "Any"), *(SelectChoice(v) for v in values)]


class LogFilterForm(FlaskForm):
    """The filters above the log; a GET form that only renders: logquery checks the values."""

    class Meta:
        csrf = False  # reading the log changes nothing, and a filtered page must be linkable

    since = DateField("From")
    until = DateField("To")
    month = StringField("Month")
    channel = SelectField("Channel", choices=_any(log_queries.CHANNELS))
    spent_on = SelectField(
        "Cost spent on",
        choices=[SelectChoice("", "Any")]
        + [SelectChoice(name, words) for name, words in spending.SPENT_ON.items()],
    )
    status = SelectField("Status", choices=_any(log_queries.STATUSES))
    kind = SelectField("Error kind", choices=_any(str(k) for k in ErrorKind))
    model = StringField("Model")
    contact = StringField("Contact")
    q = StringField("Text")


@bp.get("/logs")
def logs():
    filters = log_queries.filters_from(request.args)
    form = LogFilterForm(formdata=request.args)
    for name, message in filters.errors.items():
        form[name].errors = [message]
    found, gone = None, None
    if not filters.errors:
        before = request.args.get("before", type=int)
        after = request.args.get("after", type=int)
        try:
            found = log_queries.page(filters, before=before, after=after)
        except LookupError as exc:
            gone, found = str(exc), log_queries.page(filters)
    return render_template(
        "admin/logs.html",
        form=form,
        filters=filters,
        page=found,
        gone=gone,
        paged="before" in request.args or "after" in request.args,
        operations=log_queries.OPERATIONS,
        scan_limit=log_queries.SCAN_LIMIT,
    )


def _said(message) -> str | None:
    """A customer's message as the model read it: words, a transcript, a note of a file."""
    return content.memory_text(message.type, message.text, message.media_text, message.media_name)


@bp.get("/logs/<int:row_id>")
def log_detail(row_id: int):
    row = db.get_or_404(RequestLog, row_id)
    return render_template(
        "admin/log_detail.html",
        row=row,
        operations=log_queries.OPERATIONS,
        said=_said,
        **log_queries.detail(row),
    )


@bp.get("/logs.csv")
def logs_csv():
    filters = log_queries.filters_from(request.args)
    if filters.errors:
        return Response(
            "The export was not made:\n" + "\n".join(filters.errors.values()) + "\n",
            status=400,
            mimetype="text/plain",
        )
    today = times.today().strftime("%Y%m%d")
    return Response(
        stream_with_context(csv_lines(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=switchboard-log-{today}.csv"},
    )


def csv_lines(filters: log_queries.Filters):
    """The CSV in chunks of a few hundred rows, so neither side holds the whole export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    zone = times.zone()
    for count, row in enumerate(log_queries.rows_for_csv(filters), start=1):
        writer.writerow(csv_cells(row, zone))
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _text(value) -> str:
    return "" if value is None else str(value)


def csv_cells(row, zone: ZoneInfo) -> list[str]:
    """A log row as CSV cells, its time in ISO 8601 with the owner's offset; a spreadsheet
    must not run any of them as a formula."""
    hint = TROUBLES.get(row.error_kind) if row.status == "error" else None
    # A spreadsheet shows a name's bidi controls as they act: the number beside it reversed.
    contact = hidden_chars.stripped(contacts.label_of(row)) if row.customer_id else ""
    cells = [
        times.when(row.created_at, times.ISO, zone),
        row.channel,
        # Only these three carry text from outside (customers, providers); the rest is ours.
        log_queries.redact(contact),
        log_queries.redact(_text(row.model_requested)),
        log_queries.redact(_text(row.model_used)),
        row.status,
        _text(row.http_status),
        _text(row.error_kind),
        _text(row.latency_ms),
        _text(row.prompt_tokens),
        _text(row.completion_tokens),
        "" if row.cost is None else f"{row.cost:.8f}".rstrip("0").rstrip("."),
        hint.fix if hint else "",
    ]
    return ["'" + c if FORMULA.match(c) else c for c in cells]
