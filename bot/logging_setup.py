"""Log output: human text or one JSON object per line, each tagged with the operation it belongs to.

`operation_context(id)` marks the lines logged while an operation runs (a context variable, so it
must be entered on the thread doing the work); `OperationIdFilter` copies it onto every record.
Redaction (`bot.redaction.RedactingFilter`) runs on the same handler before formatting.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

current_operation: ContextVar[str | None] = ContextVar("current_operation", default=None)


@contextmanager
def operation_context(operation_id: str) -> Iterator[None]:
    """Tag every line logged inside the block (on this thread) with `operation_id`."""
    token = current_operation.set(operation_id)
    try:
        yield
    finally:
        current_operation.reset(token)


class OperationIdFilter(logging.Filter):
    """Sets `record.operation_id` to the operation running on the logging thread, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.operation_id = current_operation.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, operation_id (when set), exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        operation_id = getattr(record, "operation_id", None)
        if operation_id:
            entry["operation_id"] = str(operation_id)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def build_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) in `log_format` ("json" or "text") with operation ids."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(OperationIdFilter())
    return handler


def configure_logging(level: str = "INFO", log_format: str = "text") -> logging.Handler:
    """Make the root logger write `level` and above through one handler in `log_format`.

    Replaces the handler a previous call installed (start-up configures from the environment, then
    again from the validated settings); an unknown level falls back to INFO, an unknown format to text.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_litemaas_bot", False)]:
        root.removeHandler(old)
    handler = build_handler(log_format if log_format in LOG_FORMATS else "text")
    handler._litemaas_bot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    resolved = logging.getLevelName(level.upper())
    root.setLevel(resolved if isinstance(resolved, int) else logging.INFO)
    # httpx logs every request at INFO (each health probe of `status`, each watcher pass): noise at INFO,
    # kept at DEBUG.
    logging.getLogger("httpx").setLevel(logging.WARNING if root.level == logging.INFO else logging.NOTSET)
    return handler
