"""Forms generated from argument models: inputs, defaults, secrets, and reading a submission back."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field, HttpUrl, SecretStr, ValidationError

from bot.forms import ACTION_ID, FORM_CALLBACK, build_form, read_form
from bot.masking import typed_equivalent
from bot.parsing import field_problems
from commands.contract import Args, Operation


class ThingArgs(Args):
    name: str = Field(title="Model name", description="as users will see it")
    api_base: HttpUrl
    api_key: SecretStr
    category: Literal["chat", "code"] = "chat"
    streaming: bool = True
    rpm: int | None = Field(default=None, ge=0)


class AddThing(Operation[ThingArgs]):
    """Add a thing."""

    name = "things add"
    args_model = ThingArgs
    usage = "things add"
    modal: ClassVar[bool] = True


def blocks_by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"]}


def test_form_has_one_input_per_field_with_selects_defaults_and_no_secret_prefill() -> None:
    view = build_form(AddThing, channel_id="C0OPS", command_text="things add")
    assert view["callback_id"] == FORM_CALLBACK
    assert json.loads(view["private_metadata"]) == {
        "verb": "things add",
        "channel": "C0OPS",
        "text": "things add",
    }
    blocks = blocks_by_id(view)
    assert set(blocks) == {"name", "api_base", "api_key", "category", "streaming", "rpm"}, (
        "dry_run is no input"
    )
    assert blocks["name"]["label"]["text"] == "Model name"
    assert blocks["name"]["hint"]["text"] == "as users will see it"
    assert blocks["name"].get("optional") is not True and blocks["rpm"]["optional"] is True
    category = blocks["category"]["element"]
    assert category["type"] == "static_select"
    assert [o["value"] for o in category["options"]] == ["chat", "code"]
    assert category["initial_option"]["value"] == "chat"
    assert blocks["streaming"]["element"]["initial_option"]["value"] == "true"
    assert "initial_value" not in blocks["api_key"]["element"]


def submission(values: dict[str, str | None], selects: dict[str, str] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        k: {ACTION_ID: {"type": "plain_text_input", "value": v}} for k, v in values.items()
    }
    for k, v in (selects or {}).items():
        state[k] = {ACTION_ID: {"type": "static_select", "selected_option": {"value": v}}}
    meta = json.dumps({"verb": "things add", "channel": "C0OPS"})
    return {"private_metadata": meta, "state": {"values": state}}


def test_submission_reads_back_and_validates_with_the_same_model() -> None:
    verb, channel, values = read_form(
        submission(
            {"name": " gpt ", "api_base": "https://x.example/v1", "api_key": "sk-x", "rpm": ""},
            {"category": "code"},
        )
    )
    assert (verb, channel) == ("things add", "C0OPS")
    assert values == {
        "name": "gpt",
        "api_base": "https://x.example/v1",
        "api_key": "sk-x",
        "category": "code",
    }
    args = ThingArgs.model_validate(values)
    text = typed_equivalent(verb, args)
    assert "api_key=***" in text and "sk-x" not in text


def test_field_level_errors_name_the_field_and_never_echo_the_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        ThingArgs.model_validate({"api_base": "not a url", "api_key": "sk-secret", "rpm": "-5"})
    problems = field_problems(ThingArgs, caught.value)
    assert set(problems) == {"name", "api_base", "rpm"}
    assert "missing" in problems["name"]
    assert "sk-secret" not in json.dumps(problems)
