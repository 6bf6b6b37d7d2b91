"""`/maas` text → the operation class and its validated `Args`, or a `ParseError` a user can act on.

Pure code, no I/O. Every failure is a `ParseError` with one readable line (never pydantic's raw text,
never a traceback), the usage of the command when known, and a "did you mean" verb for a typo.
What the user typed is echoed back at most ~50 characters at a time, and secret-looking values never.
"""

from __future__ import annotations

import re
import shlex
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from commands.contract import Args, Operation
from commands.input_rules import invisible_character_refusal
from commands.registry import Registry
from commands.text import SECRET_VALUE, clip, printable, suggest_verb
from commands.text import shown as echo

HELP_USAGE = "help"
VALIDATOR_MESSAGE_LIMIT = 200

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'"})
_KEY_VALUE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)=(.*)", re.DOTALL)
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_NUMBER = re.compile(r"-\d+(\.\d+)?")


@dataclass(frozen=True)
class ParsedCommand:
    """A command that parsed and validated: ready for access checks and policy."""

    verb: str  # "scale"
    operation: type[Operation[Any]]
    args: Args  # validated instance of operation.args_model
    text: str  # the text as typed (stripped)


class ParseError(Exception):
    """Bad input, said in one line; `usage` is the command's usage, `suggestion` a verb for "did you mean"."""

    def __init__(self, message: str, *, usage: str | None = None, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.suggestion = suggestion

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class TypedCommand:
    """Text split into words once, its verb found: what the intake decides on (open a form, or parse)."""

    text: str  # the text as typed (stripped)
    words: tuple[str, ...]
    operation: type[Operation[Any]]
    width: int  # how many words the verb took

    @property
    def bare(self) -> bool:
        """The verb alone, no arguments (a form operation then opens its form)."""
        return len(self.words) == self.width


def read_command(
    text: str, registry: Registry, *, max_length: int = 1000, command_name: str = "/maas"
) -> TypedCommand:
    """Split `/maas` text into words and find its verb; raises `ParseError` for any bad input."""
    # Lone surrogates cannot be encoded (validators and Slack both choke on them): make them visible.
    stripped = text.encode("utf-8", "replace").decode("utf-8").strip()
    help_usage = f"{command_name} {HELP_USAGE}"
    if len(stripped) > max_length:
        raise ParseError(
            f"the command is {len(stripped):,} characters long; the limit is {max_length:,}", usage=help_usage
        )
    if not stripped:
        raise ParseError("no command given", usage=help_usage)
    if (invisible := invisible_character_refusal(stripped)) is not None:
        raise ParseError(invisible, usage=help_usage)
    words = registry.arrange(_tokenize(stripped))
    if not words or not words[0]:
        raise ParseError("no command given", usage=help_usage)
    matched = registry.match(words)
    if matched is None:
        raise _unknown_verb(words, registry.verbs(), help_usage)
    operation, width = matched
    return TypedCommand(stripped, tuple(words), operation, width)


def parse_typed(
    typed: TypedCommand, *, components: Collection[str], command_name: str = "/maas"
) -> ParsedCommand:
    """Arguments of a typed command into its validated `Args`; raises `ParseError` for bad arguments."""
    operation = typed.operation
    usage = f"{command_name} {operation.usage}"
    data, spelled = _collect_arguments(operation.args_model, list(typed.words[typed.width :]), usage)
    try:
        args = validate_args(operation, data, components)
    except ValidationError as error:
        problems = _describe_problems(operation.args_model, error, spelled)
        raise ParseError("; ".join(problems), usage=usage) from None
    return ParsedCommand(verb=operation.name, operation=operation, args=args, text=typed.text)


def parse_command(
    text: str,
    registry: Registry,
    *,
    components: Collection[str],
    max_length: int = 1000,
    command_name: str = "/maas",
) -> ParsedCommand:
    """Parse and validate `/maas` text; raises `ParseError` (and nothing else) for any bad input."""
    typed = read_command(text, registry, max_length=max_length, command_name=command_name)
    return parse_typed(typed, components=components, command_name=command_name)


def validate_args(
    operation: type[Operation[Any]], data: Mapping[str, Any], components: Collection[str]
) -> Args:
    """THE validation of a command's arguments (typed, from a form, or re-checked at approval):
    its args model with the environment's component names as context. Raises `ValidationError`."""
    return operation.args_model.model_validate(dict(data), context={"components": list(components)})


def _tokenize(text: str) -> list[str]:
    """Shell-like words; unicode spaces and typographic quotes (Slack autocorrect) count as ASCII ones."""
    normalized = "".join(" " if ch.isspace() else ch for ch in text.translate(_QUOTES))
    try:
        return shlex.split(normalized)
    except ValueError as error:
        if "escaped" in str(error):
            raise ParseError("the command ends with a lone backslash", usage=None) from None
        raise ParseError("unbalanced quote: close every ' and \" you open", usage=None) from None


def _unknown_verb(words: list[str], verbs: list[str], help_usage: str) -> ParseError:
    first = words[0].lower()
    if len(words) >= 2:
        pair = f"{first} {words[1].lower()}"
        suggestion = suggest_verb(pair, [v for v in verbs if " " in v])
        if suggestion is not None:
            return ParseError(f"unknown command `{echo(pair)}`", usage=help_usage, suggestion=suggestion)
    sub_commands = [v for v in verbs if v.split(" ", 1)[0] == first and " " in v]
    if sub_commands:
        return ParseError(
            f"`{echo(first)}` needs one of: {', '.join(sub_commands)}",
            usage=help_usage,
            suggestion=sub_commands[0] if len(sub_commands) == 1 else None,
        )
    return ParseError(
        f"unknown command `{echo(first)}`", usage=help_usage, suggestion=suggest_verb(first, verbs)
    )


def _collect_arguments(
    model: type[Args], words: list[str], usage: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Options, `key=value` words and positional words → the dict handed to pydantic, and how the user
    spelled each field (`--tail`, `rpm`) so errors name it that way."""
    fields = model.model_fields
    data: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    positional_words: list[str] = []

    def assign(name: str, value: Any, shown: str) -> None:
        if name in data:
            raise ParseError(f"{shown} given twice", usage=usage)
        data[name] = value
        spelled[name] = shown.strip("`")

    index = 0
    only_positional = False
    while index < len(words):
        word = words[index]
        index += 1
        if only_positional:
            positional_words.append(word)
        elif word == "--":
            only_positional = True
        elif word.startswith("--"):
            name, has_value, inline = word[2:].partition("=")
            field = name.lower().replace("-", "_")
            if not _OPTION_NAME.fullmatch(name.lower()) or field not in fields:
                raise ParseError(
                    f"unknown option `{echo(word.partition('=')[0])}` "
                    f"(known options: {', '.join(_known_options(model))})",
                    usage=usage,
                )
            shown = f"--{field.replace('_', '-')}"
            if has_value:
                assign(field, inline, shown)
            elif _is_bool(fields[field]):
                assign(field, True, shown)
            elif index < len(words) and not words[index].startswith("--"):
                assign(field, words[index], shown)
                index += 1
            else:
                raise ParseError(f"option `{shown}` needs a value", usage=usage)
        elif word.startswith("-") and len(word) > 1 and not _NUMBER.fullmatch(word):
            raise ParseError(
                f"unknown option `{echo(word)}` (known options: {', '.join(_known_options(model))})",
                usage=usage,
            )
        elif (key_value := _KEY_VALUE.fullmatch(word)) is not None:
            key, value = key_value.group(1), key_value.group(2)
            field = key.lower().replace("-", "_")
            if field not in fields:
                known = [f"{name}=…" for name in fields if name != "dry_run"]
                listing = f" (known: {', '.join(known)})" if known else ""
                raise ParseError(f"unknown argument `{echo(key)}=`{listing}", usage=usage)
            assign(field, value, f"`{field}`")
        else:
            positional_words.append(word)

    free_slots = [name for name in model.positional if name not in data]
    if model.rest and free_slots and len(positional_words) > len(free_slots):
        keep = len(free_slots) - 1  # the last slot takes every remaining word
        positional_words = [*positional_words[:keep], " ".join(positional_words[keep:])]
    extras = positional_words[len(free_slots) :]
    if extras:
        raise ParseError(f"too many arguments: `{echo(' '.join(extras))}`", usage=usage)
    data.update(zip(free_slots, positional_words, strict=False))
    for name in fields:  # commands documented with `key=value` arguments are answered in that spelling
        if name not in spelled and f"{name}=" in usage:
            spelled[name] = f"{name}="
    return data, spelled


def _known_options(model: type[Args]) -> list[str]:
    names = [name for name in model.model_fields if name not in model.positional and name != "dry_run"]
    return [f"--{name.replace('_', '-')}" for name in [*names, "dry_run"]]


def _is_bool(field: FieldInfo) -> bool:
    annotation = field.annotation
    if annotation is bool:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members == [bool]
    return False


def field_problems(model: type[Args], error: ValidationError) -> dict[str, str]:
    """One readable sentence per field (for a modal's field-level errors); "" keys a model-wide one."""
    problems: dict[str, str] = {}
    for detail in error.errors(include_url=False):
        loc = detail.get("loc", ())
        name = str(loc[0]) if loc else ""
        field = model.model_fields.get(name)
        label = (field.title if field is not None and field.title else name.replace("_", " ")) or "form"
        problems.setdefault(name, _describe(model, detail, {name: label}))
    return problems


def _describe_problems(model: type[Args], error: ValidationError, spelled: Mapping[str, str]) -> list[str]:
    """One readable sentence per problem, deduplicated, in pydantic's order."""
    problems: list[str] = []
    for detail in error.errors(include_url=False):
        sentence = _describe(model, detail, spelled)
        if sentence not in problems:
            problems.append(sentence)
    return problems or ["invalid arguments"]


def _describe(model: type[Args], detail: Mapping[str, Any], spelled: Mapping[str, str]) -> str:
    loc = detail.get("loc", ())
    field_name = str(loc[0]) if loc else ""
    field = model.model_fields.get(field_name)
    kind = str(detail.get("type", ""))
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    secret = field_name in model.secret_fields()
    got = f" (got {_quote(value, secret)})" if isinstance(value, str | int | float) else ""

    if field_name in model.positional:
        shown = spelled.get(field_name, field_name)
        missing = f"<{field_name}>"
    elif field_name:
        shown = missing = spelled.get(field_name, f"--{field_name.replace('_', '-')}")
    else:
        shown = missing = "arguments"

    if kind == "missing":
        return f"missing {missing}"
    if kind.startswith(("int_", "float_")) or kind in _BOUND_TYPES:
        if field is not None and _number_kind(field) is not None:
            return f"{shown} must be {_number_kind(field)}{_bounds(field)}{got}"
        if kind in _BOUND_TYPES:
            return f"{shown} {_BOUND_TYPES[kind]} {ctx.get(_BOUND_KEYS[kind], '?')}{got}"
        return f"{shown} must be a number{got}"
    if kind.startswith("bool_"):
        return f"{shown} must be true or false{got}"
    if kind in ("literal_error", "enum"):
        return f"{shown} must be one of: {ctx.get('expected', '?')}{got}"
    if kind == "string_too_short":
        return f"{shown} must be at least {ctx.get('min_length')} characters long"
    if kind == "string_too_long":
        return f"{shown} must be at most {ctx.get('max_length')} characters long"
    if kind == "string_pattern_mismatch":
        return f"{shown} has an invalid format{got}"
    if kind == "extra_forbidden":
        return f"unknown option {shown}"
    message = str(detail.get("msg", "is invalid"))
    if kind in ("value_error", "assertion_error"):
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return clip(printable(message), VALIDATOR_MESSAGE_LIMIT)
    return clip(f"{shown}: {printable(message)}", VALIDATOR_MESSAGE_LIMIT)


_BOUND_TYPES = {
    "greater_than": "must be greater than",
    "greater_than_equal": "must be at least",
    "less_than": "must be less than",
    "less_than_equal": "must be at most",
}
_BOUND_KEYS = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}


def _number_kind(field: FieldInfo) -> str | None:
    annotation = field.annotation
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    if int in members:
        return "a whole number"
    if float in members:
        return "a number"
    return None


def _bounds(field: FieldInfo) -> str:
    """ " of 0 or more", " from 1 to 10", …: the numeric constraints of a field, in words."""
    low: tuple[str, Any] | None = None
    high: tuple[str, Any] | None = None
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = ("ge", item.ge)
        elif isinstance(item, annotated_types.Gt):
            low = ("gt", item.gt)
        elif isinstance(item, annotated_types.Le):
            high = ("le", item.le)
        elif isinstance(item, annotated_types.Lt):
            high = ("lt", item.lt)
    if low and high and low[0] == "ge" and high[0] == "le":
        return f" from {low[1]} to {high[1]}"
    parts = []
    if low:
        parts.append(f"of {low[1]} or more" if low[0] == "ge" else f"greater than {low[1]}")
    if high:
        parts.append(f"of {high[1]} or less" if high[0] == "le" else f"less than {high[1]}")
    return (" " + " and ".join(parts)) if parts else ""


def _quote(value: object, secret: bool) -> str:
    if secret or SECRET_VALUE.search(str(value)):
        return "'***'"
    return f"'{echo(str(value))}'"
