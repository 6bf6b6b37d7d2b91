"""`/maas` text parsing: what a user sees for good and bad input (own small operations, no I/O)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from bot.parsing import ParsedCommand, ParseError, parse_command
from commands.contract import Args, Operation
from commands.environment import ComponentName
from commands.registry import Registry
from commands.text import suggest_verb

COMPONENTS = ("litellm", "backend", "frontend", "redis")


class DemoScaleArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("component", "replicas")
    component: ComponentName
    replicas: int = Field(ge=0)
    force: bool = False


class DemoScale(Operation[DemoScaleArgs]):
    """Scale a component."""

    name = "scale"
    args_model = DemoScaleArgs
    mutating = True


class DemoStatusArgs(Args):
    pass


class DemoStatus(Operation[DemoStatusArgs]):
    """Show the state of every component."""

    name = "status"
    args_model = DemoStatusArgs


class DemoRollbackArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("component",)
    component: str
    to_revision: int | None = Field(default=None, ge=1)


class DemoRollback(Operation[DemoRollbackArgs]):
    """Roll back a component."""

    name = "rollback"
    args_model = DemoRollbackArgs


class DemoCleanupArgs(Args):
    older_than: str = "30d"
    tail: int = Field(default=10, ge=1, le=100)


class DemoCleanup(Operation[DemoCleanupArgs]):
    """Clean up old keys."""

    name = "keys cleanup"
    args_model = DemoCleanupArgs


class DemoKeyStats(Operation[DemoStatusArgs]):
    """Key statistics."""

    name = "keys stats"
    args_model = DemoStatusArgs


class DemoModelAddArgs(Args):
    model_name: str
    api_key: str = ""
    rpm: int | None = Field(default=None, ge=1)


class DemoModelAdd(Operation[DemoModelAddArgs]):
    """Add a model."""

    name = "models add"
    modal = True
    args_model = DemoModelAddArgs


REGISTRY = Registry([DemoScale, DemoStatus, DemoRollback, DemoCleanup, DemoKeyStats, DemoModelAdd])


def parse(text: str, **kwargs: Any) -> ParsedCommand:
    return parse_command(text, REGISTRY, components=COMPONENTS, **kwargs)


def parse_error(text: str, **kwargs: Any) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(text, **kwargs)
    return caught.value


# --- good input -------------------------------------------------------------------------------------


def test_scale_parses_positionals_into_typed_args() -> None:
    parsed = parse("  scale litellm 3  ")
    assert parsed.verb == "scale"
    assert parsed.operation is DemoScale
    assert parsed.args.model_dump() == {
        "component": "litellm",
        "replicas": 3,
        "force": False,
        "dry_run": False,
    }
    assert parsed.text == "scale litellm 3"


def test_verbs_are_case_insensitive_and_flags_anywhere() -> None:
    parsed = parse("SCALE --force backend 2 --dry-run")
    assert parsed.args.model_dump() == {"component": "backend", "replicas": 2, "force": True, "dry_run": True}


def test_two_word_verb_and_option_with_separate_or_inline_value() -> None:
    assert parse("keys cleanup --older-than 7d").args == DemoCleanupArgs(older_than="7d")
    assert parse("Keys Cleanup --older-than=14d --tail 5").args == DemoCleanupArgs(older_than="14d", tail=5)


def test_dashed_option_maps_to_underscored_field() -> None:
    parsed = parse("rollback backend --to-revision 3")
    assert parsed.args == DemoRollbackArgs(component="backend", to_revision=3)


def test_key_value_arguments_and_quoted_values() -> None:
    parsed = parse("models add model_name='granite 3' rpm=60")
    assert parsed.args == DemoModelAddArgs(model_name="granite 3", rpm=60)


def test_typographic_quotes_and_unicode_spaces_are_understood() -> None:
    parsed = parse("models\u00a0add model_name=\u201cgranite 3\u201d")
    assert parsed.args == DemoModelAddArgs(model_name="granite 3")


def test_bool_flag_accepts_explicit_value() -> None:
    assert parse("scale backend 2 --force=false").args.force is False  # type: ignore[attr-defined]


def test_double_dash_ends_options() -> None:
    error = parse_error("scale litellm -- --force")
    assert "replicas must be a whole number of 0 or more (got '--force')" in error.message


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\t\n", '""'])
def test_no_command(text: str) -> None:
    error = parse_error(text)
    assert error.message == "no command given"
    assert error.usage == "/maas help"


def test_too_long_text_is_refused_with_length_and_limit() -> None:
    error = parse_error("scale " + "x" * 2000)
    assert error.message == "the command is 2,006 characters long; the limit is 1,000"
    assert parse("status", max_length=6).verb == "status"


def test_unbalanced_quote_is_an_error_not_a_crash() -> None:
    assert "unbalanced quote" in parse_error("scale 'litellm 3").message
    assert "backslash" in parse_error("scale litellm 3 \\").message


@pytest.mark.parametrize(("typed", "verb"), [("scael", "scale"), ("stauts", "status"), ("STATSU", "status")])
def test_unknown_verb_suggests_the_close_one(typed: str, verb: str) -> None:
    error = parse_error(f"{typed} litellm 3")
    assert error.message == f"unknown command `{typed.lower()}`"
    assert error.suggestion == verb


def test_unknown_two_word_verb_suggests_two_word_verb() -> None:
    error = parse_error("keys cleanpu --older-than 3d")
    assert error.suggestion == "keys cleanup"


def test_first_word_of_two_word_verbs_lists_the_choices() -> None:
    error = parse_error("keys")
    assert error.message == "`keys` needs one of: keys cleanup, keys stats"


def test_unknown_verb_without_anything_close() -> None:
    error = parse_error("frobnicate")
    assert error.suggestion is None
    assert error.usage == "/maas help"


def test_non_numeric_and_negative_replicas_are_refused_with_usage() -> None:
    error = parse_error("scale litellm abc")
    assert error.message == "replicas must be a whole number of 0 or more (got 'abc')"
    assert error.usage == "/maas scale <component> <replicas> [--force] [--dry-run]"
    assert (
        parse_error("scale litellm -1").message == "replicas must be a whole number of 0 or more (got '-1')"
    )
    assert "whole number" in parse_error("scale litellm 2.5").message


def test_unknown_component_lists_the_choices_and_a_close_name() -> None:
    error = parse_error("scale nosuch 3")
    assert error.message == "unknown component `nosuch` (choose one of: litellm, backend, frontend, redis)"
    assert "did you mean `litellm`" in parse_error("scale litelm 3").message


def test_every_problem_is_reported_once() -> None:
    error = parse_error("scale nosuch abc")
    assert error.message.count(";") == 1
    assert "unknown component `nosuch`" in error.message
    assert "replicas must be a whole number" in error.message


def test_missing_positional_is_named() -> None:
    assert parse_error("scale litellm").message == "missing <replicas>"
    assert parse_error("scale").message == "missing <component>; missing <replicas>"
    assert parse_error("models add rpm=3").message == "missing model_name="


def test_too_many_words_names_the_extras() -> None:
    assert parse_error("scale litellm 3 4 five").message == "too many arguments: `4 five`"
    assert parse_error("status now").message == "too many arguments: `now`"


def test_unknown_option_lists_known_options() -> None:
    error = parse_error("scale litellm 3 --forse")
    assert error.message == "unknown option `--forse` (known options: --force, --dry-run)"
    assert parse_error("scale litellm 3 -f").message.startswith("unknown option `-f`")
    assert parse_error("status --all").message == "unknown option `--all` (known options: --dry-run)"


def test_option_without_value_and_option_twice() -> None:
    assert parse_error("keys cleanup --older-than").message == "option `--older-than` needs a value"
    assert parse_error("keys cleanup --tail 3 --tail=4").message == "--tail given twice"


def test_bounded_option_states_the_range() -> None:
    error = parse_error("keys cleanup --tail 500")
    assert error.message == "--tail must be a whole number from 1 to 100 (got '500')"


def test_unknown_key_value_argument() -> None:
    error = parse_error("models add model_name=x colour=blue")
    assert error.message.startswith("unknown argument `colour=`")


def test_long_input_is_echoed_truncated() -> None:
    error = parse_error("scale litellm " + "9x" * 200)
    assert "…" in error.message
    assert len(error.message) < 120


def test_secret_values_are_never_echoed() -> None:
    error = parse_error("models add model_name=x api_key=sk-abcdef123456 rpm=zero")
    assert "sk-" not in error.message
    assert error.message == "rpm must be a whole number of 1 or more (got 'zero')"
    assert "sk-" not in str(parse_error("sk-livekey123 now"))
    assert parse_error("scale sk-livekey123 3").message.startswith("unknown component `***`")
    assert parse_error("models add model_name=x rpm=sk-abc123").message.endswith("(got '***')")


def test_str_of_error_is_the_message() -> None:
    error = parse_error("scale litellm abc")
    assert str(error) == error.message
    assert "\n" not in str(error)


def test_suggest_verb_directly() -> None:
    verbs = ["scale", "status", "rollback", "keys cleanup"]
    assert suggest_verb("scael", verbs) == "scale"
    assert suggest_verb("rolback", verbs) == "rollback"
    assert suggest_verb("xyz", verbs) is None
    assert suggest_verb("", verbs) is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=5000),
        st.text(alphabet=st.characters(), max_size=200).map(lambda t: "scale " + t),
        st.lists(
            st.sampled_from(
                [
                    "scale",
                    "keys",
                    "cleanup",
                    "litellm",
                    "3",
                    "-1",
                    "--force",
                    "--tail",
                    "'",
                    '"',
                    "=",
                    "a=b",
                    "--",
                ]
            ),
            max_size=8,
        ).map(" ".join),
    )
)
def test_any_text_parses_or_raises_parse_error(text: str) -> None:
    for limit in (1000, 10_000):
        try:
            parsed = parse(text, max_length=limit)
        except ParseError as error:
            assert error.message.strip()
            assert "\n" not in error.message
            assert "pydantic" not in error.message.lower()
        else:
            assert isinstance(parsed.args, parsed.operation.args_model)


def test_a_flagged_verb_is_its_own_command_wherever_its_flag_is_typed() -> None:
    from commands.keys.orphans import KeysOrphansFixOperation, KeysOrphansOperation
    from commands.registry import default_registry

    registry = default_registry()

    def parsed(text: str) -> ParsedCommand:
        return parse_command(text, registry, components=COMPONENTS)

    assert parsed("keys orphans").operation is KeysOrphansOperation
    for text in ("keys orphans --fix", "keys orphans --dry-run --fix", "KEYS ORPHANS --FIX"):
        command = parsed(text)
        assert command.operation is KeysOrphansFixOperation and command.verb == "keys orphans --fix", text
    assert parsed("keys orphans --dry-run --fix").args.dry_run
    with pytest.raises(ParseError):
        parsed("keys orphans --fix --fix")
