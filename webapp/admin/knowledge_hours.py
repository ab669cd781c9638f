"""The Knowledge page's part: opening hours, what is done outside them, and what the model is
always told; saved through the settings, so their checks are the settings' own."""

import json

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from .. import settings
from ..knowledge import hours, told
from . import bp

AFTER_HOURS = [
    ("answer", "Answer as usual (the assistant knows you are closed)"),
    ("note", "Answer, and add the note below"),
    ("away", "Send the away message, at most once in 12 hours a customer, and nothing else"),
]


class HoursForm(FlaskForm):
    business_name = StringField("Business name", description=settings.SPECS["business_name"].help)
    closed = TextAreaField(
        "Closed dates",
        description="One date a line, like 2026-12-25. Remove a line to open on that day again.",
    )
    after_hours = RadioField("Outside opening hours", choices=AFTER_HOURS, validate_choice=False)
    after_hours_note = TextAreaField("Note added outside opening hours")
    away_message = TextAreaField("Away message")
    always_tell = SelectMultipleField(
        "What the assistant is always told",
        choices=list(told.LABELS.items()),
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


for _day in hours.DAYS:
    setattr(HoursForm, _day, StringField(hours.DAY_NAMES[_day]))


def _opening_hours(form: HoursForm) -> str | None:
    """The setting's JSON from the day fields and the dates; None with each field's error
    beside it. Each part is checked alone by the one parser, to say which field is wrong."""
    value, ok = {}, True
    for day in hours.DAYS:
        try:
            spans = hours.spans_of(form[day].data or "", hours.DAY_NAMES[day])
            hours.parse({day: spans})
            value[day] = spans
        except ValueError as exc:
            form[day].errors = [str(exc)]
            ok = False
    dates = [line.strip() for line in (form.closed.data or "").splitlines() if line.strip()]
    try:
        hours.parse({"closed": dates})
        value["closed"] = dates
    except ValueError as exc:
        form.closed.errors = [str(exc)]
        ok = False
    return json.dumps(value) if ok else None


def _fill(form: HoursForm, current) -> None:
    found = told.hours_of(current)
    for day in hours.DAYS:
        form[day].data = hours.day_text(found.days.get(day, []))
    form.closed.data = "\n".join(d.isoformat() for d in found.closed)
    for name in ("business_name", "after_hours", "after_hours_note", "away_message"):
        form[name].data = str(current[name])
    form.always_tell.data = sorted(told.switched_on(current), key=list(told.LABELS).index)


@bp.route("/knowledge/hours", methods=["GET", "POST"])
def knowledge_hours():
    form = HoursForm()
    if form.validate_on_submit():
        values = {name: form[name].data or "" for name in
                  ("business_name", "after_hours", "after_hours_note", "away_message")}  # fmt: skip
        values["always_tell"] = ",".join(form.always_tell.data or [])
        for name, value in values.items():
            try:
                settings.clean(name, value)
            except settings.SettingError as exc:
                form[name].errors = [str(exc)]
        opening = _opening_hours(form)
        if opening is not None and not any(form[name].errors for name in values):
            settings.save(values | {"opening_hours": opening}, author=current_user.username)
            flash("Opening hours saved.", "success")
            return redirect(url_for("admin.knowledge_hours"))
        flash("Nothing was saved: see the messages beside the fields.", "error")
    elif form.is_submitted():
        flash("The page had expired, so nothing was saved: press Save again.", "error")
    current = settings.read()
    if not form.is_submitted():
        _fill(form, current)
    found, now = told.hours_of(current), told.local_now(current)
    return render_template(
        "admin/knowledge_hours.html",
        form=form,
        days=hours.DAYS,
        right_now=hours.right_now(found, now),
        now=now,
        zone=told.owner_zone(current).key,
    )
