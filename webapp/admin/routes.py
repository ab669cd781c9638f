"""Thin admin views: validate, call a service, render."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import (
    catalog,
    checks,
    crypto,
    destinations,
    heartbeats,
    prompts,
    settings,
    state,
    stats,
)
from ..auth import throttle
from ..data import backups
from ..knowledge import gaps
from ..money import budget
from ..money import card as cost_card
from ..people import needs
from ..snapshot import Snapshot
from . import bp, charts, get_started, setting_sections, threads
from .forms import ActionForm, PromptForm, SettingsForm, zone_choices

LOW_CREDIT = 1.0  # dollars left on the key before the dashboard warns


@bp.get("/")
def dashboard():
    key_test = state.get("key_test")
    remaining = (key_test or {}).get("limit_remaining")
    snap = stats.latest()
    days, models = snap.days, snap.models
    money_now = budget.look(settings.read())  # read at every view: a change shows at once
    return render_template(
        "admin/dashboard.html",
        unreadable=settings.unreadable(),
        unreadable_message=crypto.UNREADABLE,
        workers=heartbeats.alive(),
        worker_last_seen=heartbeats.last_seen(),
        waiting=threads.waiting_count(),
        other_number=other_number(),
        checklist=setup_checklist(),
        start=get_started.steps(),
        photo_model_needed=photo_model_needed(),
        action=ActionForm(),
        key_test=key_test,
        low_credit=remaining is not None and remaining < LOW_CREDIT,
        default=catalog.default_model(),
        flagged=checks.flagged_in_chain(),
        prompt=prompts.current_text(),
        webhook=webhook_status(),
        snap=snap,
        gaps_week=gaps.this_week(),
        needs_you=needs.waiting(),
        budget_banner=cost_card.banner(money_now),
        budget_spent=money_now.spent is not None,
        cost=cost_card.latest(money_now),
        meta_pricing=cost_card.META_PRICING,
        charts={
            "messages": charts.bars(
                "Messages in per day", [(d.day.strftime("%d %b"), d.messages_in) for d in days]
            ),
            "errors": charts.stacked(
                "Errors per day by kind", [(d.day.strftime("%d %b"), d.errors) for d in days]
            ),
            "latency": charts.bars(
                "Median latency per model",
                [(m.model.split("/")[-1], m.median_ms or 0) for m in models],
                unit=" ms",
            ),
        },
        error_kinds=sorted({kind for d in days for kind in d.errors}),
        kind_colours=charts.KIND_COLOURS,
        backup=backups.last(),
        backup_on_sqlite=backups.sqlite_file() is not None,
        # A backup matters once customers have written; before, the warning is only noise.
        has_conversations=threads.last_inbound_at() is not None,
    )


def webhook_status() -> dict:
    """What the owner needs to connect Meta, and any deliveries refused for want of a secret."""
    refused = state.get("webhook_refused")
    url = webhook_url()
    return {
        "url": url,
        "unreachable": get_started.unreachable_reason(url),
        "verified": state.get("webhook_verified"),
        "last_inbound": threads.last_inbound_at(),
        "refused": refused if refused and not settings.is_set("whatsapp_app_secret") else None,
    }


def webhook_url() -> str:
    """The callback URL for Meta: at the public address when one is set, since the admin may
    be opened through another (a tunnel, the server's own address)."""
    public = str(settings.get("public_url"))
    path = url_for("webhook.receive")
    return public + path if public else url_for("webhook.receive", _external=True)


def other_number() -> dict | None:
    """Messages Meta delivered for another phone number ID than the one in Settings, while
    Settings still has that one: a mistyped ID must not fail silently."""
    seen = state.get("other_number")
    configured = settings.get("whatsapp_phone_number_id")
    return seen if seen and seen.get("configured") == configured else None


def setup_checklist() -> list[tuple[str, bool, str]]:
    key_test = state.get("key_test") or {}
    whatsapp = all(
        settings.is_set(name)
        for name in ("whatsapp_access_token", "whatsapp_phone_number_id", "whatsapp_app_secret")
    )
    return [
        ("OpenRouter key saved", settings.is_set("openrouter_api_key"), "admin.settings"),
        ("Key tested and working", bool(key_test.get("ok")), "admin.settings"),
        ("Default model chosen", catalog.default_model() is not None, "admin.models"),
        (
            "Prompt written for your business",
            prompts.current_text() != prompts.INITIAL_PROMPT,
            "admin.prompt",
        ),
        ("WhatsApp number connected", whatsapp, "admin.settings"),
        (
            "Webhook verified by Meta",
            bool(state.get("webhook_verified")),
            "admin.settings",
        ),
        ("First message received", threads.last_inbound_at() is not None, "admin.conversations"),
        ("First reply delivered", threads.any_reply_delivered(), "admin.conversations"),
        *photo_model_needed(),
    ]


def photo_model_needed() -> list[tuple[str, bool, str]]:
    """Once a customer's photo found no model able to see it (with 'Model for photos' on
    auto), the checklist asks for one until the table has one."""
    if not state.get("photos_unseen"):
        return []
    snap = Snapshot.load(current_app.config)
    if snap["image_model"] != "auto" or snap.image_route():
        return []
    label = "Customers send photos: add a model that can see them (e.g. google/gemini-2.5-flash)"
    return [(label, False, "admin.models")]


@bp.route("/settings", methods=["GET", "POST"], endpoint="settings")
def settings_page():
    """One form per section: a section saves only its own fields. A test button saves its
    section only when the test passes; what was typed and not saved stays in the fields."""
    form = SettingsForm()
    form.timezone.choices = zone_choices(str(settings.get("timezone")))
    editable = [
        name
        for name in settings.SPECS
        # the prompt and the opening hours have pages of their own
        if settings.SPECS[name].kind not in ("hours",)
        and name != "system_prompt"
        and not settings.env_override(name)
    ]
    posted = None
    if request.method == "POST" and "section" in request.form:
        posted = setting_sections.by_slug(request.form["section"]) or abort(400)
    # A post without a section (a script, an older page) carries every field, as before.
    chosen = [n for n in editable if posted is None or settings.SPECS[n].section == posted]
    tested = {}
    if form.validate_on_submit():
        action = request.form.get("action", "save")
        values = _checked(form, chosen)
        if values is not None and action in setting_sections.TESTS and posted:
            field = setting_sections.TESTS[action]
            tested = {field: _test(action, form)}
            if not tested[field]["ok"]:
                flash("The test failed, so nothing was saved: see beside the field.", "error")
                values = None
        if values is not None:
            return _store(values, posted, tested)
    elif request.method == "POST":
        flash("The page had expired, so nothing was saved: press Save again.", "error")
    for name in editable:
        if not settings.SPECS[name].secret and (request.method == "GET" or name not in chosen):
            value = settings.get(name)
            if settings.SPECS[name].kind == "flags":  # the words checked
                form[name].data = [word for word in str(value).split(",") if word]
            else:
                form[name].data = value if isinstance(value, bool) else str(value)
    sections = setting_sections.names()
    fields = setting_sections.fields(editable)
    # The password is asked in the part whose API address moved, once it is needed.
    moved = form.current_password.errors and settings.moved_hosts(
        {name: form_value(form[name].data) for name in chosen}
    )
    asks_password = moved and settings.SPECS[moved[0]].section
    return render_template(
        "admin/settings.html",
        form=form,
        specs=settings.SPECS,
        sections=sections,
        slugs={s: setting_sections.slug(s) for s in sections},
        fields=fields,
        asks_password=asks_password,
        display=settings.display,
        env_override=settings.env_override,
        tested=tested,
        key_test=state.get("key_test"),
        whatsapp_test=state.get("whatsapp_test"),
    )


def _test(action: str, form: SettingsForm) -> dict:
    """Test what the section's fields hold: the typed key or token (at the address typed
    beside it), else the saved one."""
    typed = {name: form_value(form[name].data) for name in settings.SPECS if name in form}
    if action == "test-key":
        return checks.test_key(typed["openrouter_api_key"], typed["openrouter_base_url"])
    return checks.test_whatsapp(
        typed["whatsapp_access_token"],
        typed["whatsapp_phone_number_id"],
        typed["whatsapp_api_base_url"],
    )


def _checked(form: SettingsForm, chosen: list[str]) -> dict[str, str] | None:
    """The chosen fields' values when all of them can be saved; else None, with what is
    wrong marked beside each field."""
    values = {name: form_value(form[name].data) for name in chosen}
    for name, raw in values.items():
        if settings.SPECS[name].secret and not raw.strip():
            continue
        try:
            settings.clean(name, raw)
        except settings.SettingError as exc:
            form[name].errors = [str(exc)]
    if not any(form[name].errors for name in chosen):
        _confirm_moves(form, values)
    if any(form[name].errors for name in [*chosen, "current_password"]):
        flash("Nothing was saved: correct the fields marked below.", "error")
        return None
    return values


def _store(values: dict[str, str], section: str | None, tested: dict):
    for warning in settings.save(values, author=current_user.username):
        flash(warning, "warning")
    for field, outcome in tested.items():
        # What was tested is saved now, so its answer is the saved one's.
        state.record("key_test" if field == "openrouter_api_key" else "whatsapp_test", outcome)
        flash("The key works." if field == "openrouter_api_key" else "The token works.", "success")
    flash(f"{section} settings saved." if section else "Settings saved.", "success")
    anchor = "#" + setting_sections.slug(section) if section else ""
    return redirect(url_for("admin.settings") + anchor)


def _confirm_moves(form: SettingsForm, values: dict[str, str]) -> None:
    """A key follows its API address to another host only when the admin says so twice: with
    their password, and by typing the key again. A stolen session alone cannot send the
    stored key to a server of its choosing."""
    # Only a stored secret can be sent somewhere new behind the owner's back.
    moved = [n for n in settings.moved_hosts(values) if settings.is_set(destinations.SECRET_OF[n])]
    if not moved:
        return
    # The same count as the password form's: both check the signed-in admin's password.
    if wait := throttle.claim_password_form(current_user.id):
        form.current_password.errors = [f"Too many wrong passwords: try again in {wait} s."]
    elif not current_user.check_password(form.current_password.data or ""):
        form.current_password.errors = [
            "Type your password: an API address moves to another host, and the key saved "
            "for it would be sent there."
        ]
    else:
        throttle.password_form_passed(current_user.id)
    for name in moved:
        secret = destinations.SECRET_OF[name]
        if not values.get(secret, "").strip():
            host = destinations.host_of(values[name])[1]
            form[secret].errors = [
                f"Type the {settings.SPECS[secret].label} again: it would now be sent to {host}."
            ]


def form_value(data) -> str:
    """A submitted field as the text the settings module validates (a checkbox is on/off, a
    set of them the words ticked, comma-separated)."""
    if isinstance(data, bool):
        return "on" if data else "off"
    if isinstance(data, list):  # the boxes ticked of a set of flags
        return ",".join(data)
    return data or ""


@bp.post("/settings/test-key")
def test_key():
    if not ActionForm().validate_on_submit():
        abort(400)
    result = checks.test_key()
    flash(
        "The key works." if result["ok"] else "The key test failed.",
        "success" if result["ok"] else "error",
    )
    return redirect(url_for("admin.settings") + "#openrouter")


@bp.route("/prompt", methods=["GET", "POST"])
def prompt():
    form = PromptForm()
    if form.validate_on_submit():
        text = form.text.data.replace("\r\n", "\n").strip()
        if text == prompts.current_text():
            flash("The prompt is unchanged.", "info")
        else:
            prompts.save_version(text, current_user.username)
            flash("Prompt saved as a new version.", "success")
        return redirect(url_for("admin.prompt"))
    template = request.method == "GET" and request.args.get("template") == "business"
    if request.method == "GET":
        filled = prompts.business_template(
            str(settings.get("business_name")), str(settings.get("opening_hours"))
        )
        form.text.data = filled if template else prompts.current_text()
    return render_template(
        "admin/prompt.html",
        form=form,
        history=prompts.history(),
        action=ActionForm(),
        template=template,
    )


@bp.post("/prompt/<int:version_id>/restore")
def restore_prompt(version_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        version = prompts.restore(version_id, current_user.username)
    except LookupError:
        abort(404)
    flash(f"Version {version_id} restored as version {version.id}.", "success")
    return redirect(url_for("admin.prompt"))
