"""One kind of divergence: an exact count, and the first items (bounded) for the sample and the file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

LIST_LIMIT = 100_000  # items kept per kind for the file; counts are always exact
KINDS = ("a", "b", "c1", "c2", "d", "e", "f")  # the report's order; "c" names both halves of c


@dataclass
class Finding:
    """`kind` is the letter of product.md §5 (with a suffix for the two halves of c), or (f).

    `refs` holds, for a kind a fix acts on, what the fix needs per listed item (LiteLLM tokens for
    (f)); never shown."""

    kind: str
    title: str
    count: int = 0
    items: list[tuple[str, str]] = field(default_factory=list)  # (item, detail), safe to show
    refs: list[str] = field(default_factory=list)

    def add(self, item: str, detail: str = "", ref: str | None = None) -> None:
        self.count += 1
        if len(self.items) < LIST_LIMIT:
            self.items.append((item, detail))
            if ref is not None:
                self.refs.append(ref)

    def extend(self, pairs: Iterable[tuple[str, str]]) -> Finding:
        for item, detail in pairs:
            self.add(item, detail)
        return self
