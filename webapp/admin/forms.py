"""Admin forms; the settings form is built from the settings table so names never drift."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    RadioField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget, PasswordInput

from ..display import zones
from ..knowledge import told
from ..replies.try_it import MAX_LENGTH
from ..settings import SPECS


class ActionForm(FlaskForm):
    """An empty form: the CSRF token for buttons that change something."""


class SettingsForm(FlaskForm):
    pass


for _spec in SPECS.values():
    if _spec.name == "system_prompt" or _spec.kind == "hours":
        continue  # edited on pages of their own: Prompt (with its history), opening hours
    if _spec.kind == "choice":  # the settings module says what is wrong with a bad word
        _field = SelectField(
            _spec.label, choices=_spec.choices, validate_choice=False, description=_spec.help
        )
    elif _spec.kind == "flags":  # a checkbox a word; the settings module checks the words
        _field = SelectMultipleField(
            _spec.label,
            choices=[(word, told.LABELS.get(word, word)) for word in _spec.choices],
            validate_choice=False,
            description=_spec.help,
            widget=ListWidget(prefix_label=False),
            option_widget=CheckboxInput(),
        )
    elif _spec.kind == "timezone":  # the zones are listed per form: see zone_choices
        _field = SelectField(_spec.label, validate_choice=False, description=_spec.help)
    elif _spec.secret:
        # What the owner typed goes back into the field when it was not saved (a refused
        # section, a test): only in the answer to the request that carried it, never from
        # storage, and that answer is never cached (Cache-Control: no-store).
        _field = PasswordField(
            _spec.label,
            description=_spec.help,
            widget=PasswordInput(hide_value=False),
            render_kw={"autocomplete": "off", "spellcheck": "false"},
        )
    else:
        _kind = {"secret": PasswordField, "text": TextAreaField, "bool": BooleanField}
        _field = _kind.get(_spec.kind, StringField)(_spec.label, description=_spec.help)
    setattr(SettingsForm, _spec.name, _field)
SettingsForm.current_password = PasswordField(
    "Your password",
    description="Needed only when an API address moves to another host: its key goes there.",
)


def zone_choices(current: str) -> dict[str, list[tuple[str, str]]]:
    """The time zones by region, each under its place's name; `current` too, when it is an
    older spelling the list leaves out (US/Eastern), so saving never changes it unasked."""
    groups = {
        region: [(name, name.partition("/")[2].replace("_", " ") or name) for name in names]
        for region, names in zones.offered().items()
    }
    if current and not any(current == name for names in groups.values() for name, _ in names):
        groups["Other"] = [(current, current)]
    return groups


class AddModelForm(FlaskForm):
    model_id = StringField("Model ID", validators=[DataRequired(), Length(max=200)])
    label = StringField("Label", validators=[Length(max=200)])


class CatalogSearchForm(FlaskForm):
    """The catalog search on the Models page; a GET form that changes nothing."""

    class Meta:
        csrf = False

    q = SearchField("Search the catalog", validators=[Length(max=100)])


class AddFromCatalogForm(FlaskForm):
    model_id = StringField("Model ID", validators=[DataRequired(), Length(max=200)])


class ReplaceModelForm(FlaskForm):
    model_id = StringField("Model ID", validators=[DataRequired(), Length(max=200)])


class LabelForm(FlaskForm):
    label = StringField("Label", validators=[DataRequired(), Length(max=200)])


class PromptForm(FlaskForm):
    text = TextAreaField("System prompt", validators=[DataRequired(), Length(max=20000)])


class ContactSearchForm(FlaskForm):
    """The conversations search; a GET form that changes nothing, so it has no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField("Name or number", validators=[Length(max=100)])


class ReplyForm(FlaskForm):
    # Longer texts are sent in parts of 4096 characters; five parts is a letter, not a chat.
    body = TextAreaField("Message", validators=[DataRequired(), Length(max=20000)])


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=64)],
        description="Where the token is used, e.g. 'wa-expert support flow'.",
    )


class TrialForm(FlaskForm):
    """A trial's models, prompt and questions; the trials module checks the values it needs
    the database for (usable models, a known customer, messages to replay)."""

    models = SelectMultipleField(
        "Models (up to 6)",
        validate_choice=False,  # the trials module says which model is not usable, and why
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    prompt = TextAreaField(
        "System prompt",
        validators=[Length(max=20000)],
        description="The saved prompt; edit it to try a draft (the saved prompt stays as is).",
    )
    source = RadioField(
        "Ask",
        choices=[
            SelectChoice("typed", "A message I type"),
            SelectChoice("replay", "The last real customer messages"),
        ],
        default="typed",
    )
    message = TextAreaField("Message", validators=[Length(max=20000)])
    customer = StringField(
        "As customer (optional)",
        validators=[Length(max=100)],
        description="A customer's number: the models see what that customer said before.",
    )
    last_n = IntegerField(
        "How many messages",
        validators=[Optional()],
        default=5,
        description="1 to 20; each is asked with the memory it had when it came.",
    )


class TryItForm(FlaskForm):
    """A message to the assistant on the Try it page, as a customer would write it."""

    message = TextAreaField(
        "Your message",
        validators=[
            DataRequired("Write a message to send."),
            Length(max=MAX_LENGTH, message=f"Write at most {MAX_LENGTH} characters."),
        ],
    )
