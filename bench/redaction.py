"""How long the redactor takes on the bot's most frequent message (the full help), as sent.

Baseline, in the same process: the same redaction without the remembered texts (every pattern run).
.venv/bin/python bench/redaction.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot import rendering
from bot.redaction import Redactor
from commands.registry import default_registry

SECRETS = ["xoxb-bench-0123456789abcdef", "sk-bench-0123456789abcdefabcdef", "ltm_admin_0123456789abcdef"]


def per_call_ms(redact: Callable[[Any], Any], message: rendering.Message, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        redact(dict(message))
    return 1000 * (time.perf_counter() - started) / rounds


def main() -> None:
    registry = default_registry()
    help_text = "\n".join(f"`/maas {op.usage}` — {op.help()}" for op in registry.operations())
    message = rendering.render_text(help_text)
    redactor = Redactor(SECRETS)

    def every_pattern(obj: object) -> object:
        redactor._remembered.cache_clear()  # the baseline: nothing remembered
        return redactor.redact_obj(obj)

    baseline = min(per_call_ms(every_pattern, message, 200) for _ in range(3))
    remembered = min(per_call_ms(redactor.redact_obj, message, 2000) for _ in range(3))
    print(f"full help ({len(help_text)} characters), best of 3")
    print(f"every pattern run     {baseline:8.3f} ms per message")
    print(f"remembered texts      {remembered:8.3f} ms per message   ({baseline / remembered:.0f}x faster)")


if __name__ == "__main__":
    main()
