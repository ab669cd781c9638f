"""The troubleshooting table: one row per error kind, in words an owner can act on."""

import pytest

from webapp.troubleshooting import TRANSIENT_KINDS, TROUBLES, ErrorKind, Trouble, trouble

DESIGN_KINDS = {
    "invalid_key", "no_credits", "model_not_found", "timeout", "bad_response", "rate_limited",
    "moderation", "bad_request", "upstream_unavailable", "network", "whatsapp_auth",
    "whatsapp_window", "whatsapp_rate_limited", "whatsapp_rejected", "whatsapp_unavailable",
    "whatsapp_unknown", "internal", "customer_limited", "file_too_heavy",
    "alert_not_sent", "email_failed", "budget_exceeded",
}  # fmt: skip


def test_error_kinds_are_exactly_the_design_kinds():
    assert {kind.value for kind in ErrorKind} == DESIGN_KINDS


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_has_a_row_with_words_to_show(kind):
    row = TROUBLES[kind]
    assert row.kind is kind
    for words in (row.title, row.symptom, row.cause, row.fix):
        assert words.strip()


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_a_row_points_at_an_admin_page_or_nowhere(kind):
    assert TROUBLES[kind].setting in (None, "admin.settings", "admin.models")


def test_transient_kinds_are_the_six_retried_kinds():
    assert {kind.value for kind in TRANSIENT_KINDS} == {
        "timeout", "rate_limited", "upstream_unavailable", "network", "whatsapp_rate_limited",
        "whatsapp_unavailable",
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["invalid_key", ErrorKind.INVALID_KEY])
def test_trouble_accepts_the_stored_string_or_the_enum(kind):
    assert trouble(kind) is TROUBLES[ErrorKind.INVALID_KEY]


def test_trouble_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="nope"):
        trouble("nope")


def test_rows_cannot_be_changed_at_runtime():
    with pytest.raises(AttributeError):
        TROUBLES[ErrorKind.TIMEOUT].fix = "something else"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (ErrorKind.INVALID_KEY, ["401", "Bearer", "sk-or-"]),
        (ErrorKind.NO_CREDITS, ["402", "credits", "max_tokens"]),
        (ErrorKind.MODEL_NOT_FOUND, ["404", "retired", "catalog"]),
        (ErrorKind.TIMEOUT, ["faster model", "timeout"]),
        (ErrorKind.BAD_RESPONSE, ["different structure", "raw answer is kept"]),
    ],
)
def test_owners_starting_table_is_covered(kind, words):
    row: Trouble = trouble(kind)
    text = " ".join((row.title, row.symptom, row.cause, row.fix)).lower()
    for word in words:
        assert word.lower() in text
