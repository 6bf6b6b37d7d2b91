"""Secrets typed inline (`models add … api_key=sk-…`) are kept and shown only masked.

One rule says what is secret: the argument model's `SecretStr` fields (`Args.secret_fields`). Masking
works on the PARSED values, never on a pattern over the typed text, so a key spelled with quotes,
`&`, `,`, `;`, `)` or spaces is masked whole. The masked text is what the operation row, the lock
reason, the approval card, the `approvals` list, the replies and the audit carry.
"""

from __future__ import annotations

import shlex

from pydantic import SecretStr

from bot.parsing import ParsedCommand
from commands.contract import Args
from commands.input_rules import show_invisible
from commands.registry import Registry

MASK = "***"
REFUSED_TEXT_LIMIT = 200  # characters of a refused command kept in its audit row


def secret_values(args: Args) -> dict[str, str]:
    """Field name → plain value of every secret field that holds a value."""
    values: dict[str, str] = {}
    for name in type(args).secret_fields():
        value = getattr(args, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            values[name] = value.get_secret_value()
    return values


def typed_equivalent(verb: str, args: Args) -> str:
    """The command as if typed: `key=value` per field set, secret fields as `***`, quoted as a shell would."""
    parts = [verb]
    secret = type(args).secret_fields()
    for name, value in args.model_dump(exclude_defaults=True).items():
        shown = MASK if name in secret else str(value)
        parts.append(f"{name}={shlex.quote(shown) if shown != MASK else MASK}")
    return " ".join(parts)


def masked_text(parsed: ParsedCommand) -> str:
    """The text of a parsed command that may be stored and shown.

    As typed when it carries no secret value; else rebuilt from the parsed values with every secret
    as `***` (and any other field repeating a secret value masked too).
    """
    values = secret_values(parsed.args)
    if not values:
        return parsed.text
    text = typed_equivalent(parsed.verb, parsed.args)
    for value in sorted(values.values(), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def refused_text(text: str, registry: Registry) -> str:
    """What the audit keeps of a command that did not parse: its arguments only when its operation
    takes no secret (a failed parse has no parsed values to mask), the first word only when no
    operation matched; invisible characters written as escapes, at most REFUSED_TEXT_LIMIT characters."""
    words = registry.arrange(text.split())
    match = registry.match(words) if words else None
    if match is None:
        kept = f"{words[0]} …" if len(words) > 1 else (words[0] if words else "")
    elif match[0].args_model.secret_fields():
        kept = " ".join(words[: match[1]]) + (" (arguments not kept: this command takes secrets)")
    else:
        kept = " ".join(words)
    return _clip(show_invisible(kept), REFUSED_TEXT_LIMIT)


def refused_command(text: str, registry: Registry, fallback: str = "?") -> str:
    """The verb a refused command names, for its audit row; `fallback` when none matched."""
    words = registry.arrange(text.split())
    match = registry.match(words) if words else None
    return match[0].name if match is not None else fallback


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
