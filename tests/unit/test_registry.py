"""Every verb of the registry: help from its docstring, usage derived from its argument model, every
positional argument a field, and exactly one row in the README's command table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from commands.contract import Operation, usage_of
from commands.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = default_registry().operations()


def table_usage(op: type[Operation[Any]]) -> str:
    """The usage as the README's table shows it (every mutating command takes `--dry-run`)."""
    return op.usage.removesuffix(" [--dry-run]")


def policy_text(op: type[Operation[Any]]) -> str:
    if op.everyone:
        return "everyone"
    return op.default_role + (" + approval" if op.default_approval else "")


def readme_rows() -> list[tuple[str, str]]:
    """(usage cell, policy cell) of every row of the README's command table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Commands", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append((cells[0].strip("`").replace("\\|", "|"), cells[-1]))
    return rows


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_every_verb_has_help_and_a_derived_usage(op: type[Operation[Any]]) -> None:
    assert (op.__doc__ or "").strip(), f"{op.name} has no docstring: `help` would show nothing"
    assert op.help() != op.usage
    assert op.usage == usage_of(op.name, op.args_model, mutating=op.mutating, modal=op.modal)
    assert set(op.args_model.positional) <= set(op.args_model.model_fields)


def test_no_usage_is_written_by_hand() -> None:
    written = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "commands").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"\s+usage\s*=", line)
    ]
    assert written == []


def test_the_readme_table_has_one_current_row_per_verb() -> None:
    rows = readme_rows()
    expected = [(table_usage(op), policy_text(op)) for op in OPERATIONS]
    assert sorted(rows) == sorted(expected)
