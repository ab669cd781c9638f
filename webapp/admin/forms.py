"""Admin forms; the settings form is built from the settings table so names never drift."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    SearchField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from ..settings import SPECS


class ActionForm(FlaskForm):
    """An empty form: the CSRF token for buttons that change something."""


class SettingsForm(FlaskForm):
    pass


for _spec in SPECS.values():
    if _spec.name == "system_prompt":
        continue  # edited with its history on the Prompt page
    if _spec.kind == "choice":  # the settings module says what is wrong with a bad word
        _field = SelectField(
            _spec.label, choices=_spec.choices, validate_choice=False, description=_spec.help
        )
    else:
        _kind = {"secret": PasswordField, "text": TextAreaField, "bool": BooleanField}
        _field = _kind.get(_spec.kind, StringField)(_spec.label, description=_spec.help)
    setattr(SettingsForm, _spec.name, _field)


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
