"""Secrets typed inline are masked on the parsed value, whatever characters they contain."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.masking import MASK, masked_text, refused_command, refused_text, typed_equivalent
from bot.parsing import ParseError, parse_command
from commands.registry import default_registry

REGISTRY = default_registry()
BASE = "models add model_name=granite litellm_model=openai/granite api_base=https://g.example/v1"
HARD_KEYS = ["ab&cd,ef;gh)ij", "sk with spaces inside", "quo\"te's", "&amp;<b>", "x" * 600, "key=value&x=y"]


@pytest.mark.parametrize("key", HARD_KEYS)
def test_a_key_of_any_spelling_is_masked_whole(key: str) -> None:
    parsed = parse_command(f"{BASE} api_key={shlex.quote(key)} rpm=10", REGISTRY, components=[])
    text = masked_text(parsed)
    assert key not in text
    assert f"api_key={MASK}" in text
    for piece in key.replace(",", " ").replace(";", " ").replace("&", " ").split():
        if len(piece) >= 4:
            assert piece not in text, f"a part of the key ({piece!r}) survived"
    assert "model_name=granite" in text and "rpm=10" in text


def test_a_command_without_secret_is_kept_as_typed() -> None:
    parsed = parse_command("scale litellm   3 --dry-run", REGISTRY, components=["litellm"])
    assert masked_text(parsed) == "scale litellm   3 --dry-run"


def test_another_field_repeating_the_key_is_masked_too() -> None:
    parsed = parse_command(f"{BASE} api_key=sekrit-value description=sekrit-value", REGISTRY, components=[])
    assert "sekrit-value" not in masked_text(parsed)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1))
def test_masked_text_never_contains_the_key(key: str) -> None:
    try:
        parsed = parse_command(f"{BASE} api_key={shlex.quote(key)}", REGISTRY, components=[])
    except ParseError:
        return  # refused (e.g. only spaces): nothing is stored then
    value = getattr(parsed.args, "api_key").get_secret_value()  # noqa: B009 - the model's secret field
    assert value not in masked_text(parsed) or value in f"api_key={MASK}"


def test_typed_equivalent_quotes_values_as_a_shell_would() -> None:
    parsed = parse_command(f"{BASE} api_key=k1234567 description='two words'", REGISTRY, components=[])
    text = typed_equivalent(parsed.verb, parsed.args)
    assert "description='two words'" in text and "api_key=***" in text
    assert shlex.split(text)[0:2] == ["models", "add"]


def test_a_refused_command_keeps_its_arguments_only_without_secrets() -> None:
    assert refused_text("scale litellm 1_0", REGISTRY) == "scale litellm 1_0"
    assert refused_text(f"{BASE} api_key=a&b rpm=x", REGISTRY) == (
        "models add (arguments not kept: this command takes secrets)"
    )
    assert refused_text("modles add api_key=sk-live-1234", REGISTRY) == "modles …"
    assert refused_text("scale litellm 3\x00", REGISTRY) == "scale litellm 3\\u0000"
    assert refused_command("scale litellm x", REGISTRY) == "scale"
    assert refused_command("nonsense", REGISTRY) == "?"
