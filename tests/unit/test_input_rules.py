"""Typed input rules every argument model follows: no invisible characters, integers as plain digits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.parsing import ParseError, parse_command
from commands.cluster.scale import ScaleArgs
from commands.input_rules import first_forbidden, is_forbidden, show_invisible
from commands.models.add import ModelAddArgs
from commands.registry import default_registry

REGISTRY = default_registry()
COMPONENTS = ["litellm", "backend", "frontend", "redis"]
BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]
CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]
INVISIBLE = ["\u200b", "\u200e", "\u200f", "\u061c", "\u2060", "\ufeff", "\u00ad", "\U000e0041", "\u2028"]


@pytest.mark.parametrize("ch", CONTROLS + BIDI + INVISIBLE)
def test_controls_bidi_and_invisible_format_characters_are_forbidden(ch: str) -> None:
    assert is_forbidden(ch)


@pytest.mark.parametrize("ch", ["a", " ", "é", "日", "\u200d", "\u200c", "🙂", "\u00a0", "\ufe0f"])
def test_visible_text_and_joiners_are_allowed(ch: str) -> None:
    assert not is_forbidden(ch)


@pytest.mark.parametrize("ch", ["\x00", "\x1b", "\u202e", "\u2066", "\u200b", "\x7f"])
def test_a_typed_command_with_an_invisible_character_is_refused_naming_it(ch: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(f"scale litellm 3{ch}", REGISTRY, components=COMPONENTS)
    message = caught.value.message
    assert f"U+{ord(ch):04X}" in message and "at character 16" in message
    assert ch not in message


@pytest.mark.parametrize("text", ["scale litellm\t3", "scale litellm\n3", "scale\r\nlitellm 3"])
def test_tab_and_newline_stay_word_separators(text: str) -> None:
    parsed = parse_command(text, REGISTRY, components=COMPONENTS)
    assert parsed.args == ScaleArgs(component="litellm", replicas=3)


def test_a_form_value_with_a_bidi_override_is_refused_by_the_model_itself() -> None:
    """The form path never goes through the parser: the argument model refuses it too."""
    values = {
        "model_name": "granite",
        "litellm_model": "openai/granite",
        "api_base": "https://x.example/v1",
        "api_key": "sk-abc\u202edef",
        "description": "fine",
    }
    with pytest.raises(ValidationError) as caught:
        ModelAddArgs.model_validate(values)
    [error] = caught.value.errors()
    assert error["loc"] == ("api_key",) and "U+202E" in error["msg"]
    assert "sk-abc" not in error["msg"]


NOT_PLAIN = ["1_0", "3.0", "+3", " 3", "3 ", "-1", "0x3", "\u0663", "\uff13", "1e1", "9" * 19]


@pytest.mark.parametrize("word", NOT_PLAIN)
def test_integers_are_plain_decimal_digits_only(word: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(f"scale litellm '{word}'", REGISTRY, components=COMPONENTS)
    assert "replicas must be a whole number" in caught.value.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("logs litellm --tail 1_0", "--tail"),
        ("audit +3", "limit"),
        ("rollback litellm --to-revision 2.0", "--to-revision"),
        ("models add model_name=m litellm_model=a/b api_base=https://x.example api_key=k rpm=1_000", "rpm"),
    ],
)
def test_every_integer_argument_follows_the_same_rule(text: str, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(text, REGISTRY, components=COMPONENTS)
    assert field in caught.value.message and "whole number" in caught.value.message


def test_plain_digits_still_parse() -> None:
    assert parse_command("scale litellm 010", REGISTRY, components=COMPONENTS).args == ScaleArgs(
        component="litellm", replicas=10
    )


@given(st.text(max_size=40))
def test_shown_invisible_text_has_no_forbidden_character_left(text: str) -> None:
    shown = show_invisible(text)
    assert first_forbidden(shown) is None
    assert shown == text or "\\u" in shown or "\\U" in shown


def test_the_secret_rule_is_the_model_type_for_every_registered_command() -> None:
    """One rule: a field whose name says secret is a SecretStr, so every place that masks finds it."""
    secretish = ("key", "token", "secret", "password", "passwd", "credential")
    for op in REGISTRY.operations():
        model = op.args_model
        for name in model.model_fields:
            if any(word in name.lower() for word in secretish):
                assert name in model.secret_fields(), f"{model.__name__}.{name} must be a SecretStr"
    assert ModelAddArgs.secret_fields() == {"api_key"}
