"""Optional JSON-lines files the sandboxes append what they received to, named by environment variables.

Off unless the variable is set (the test suite sets it to check deploy/'s grants against real traffic).
Many servers and threads of one process may write one file: a lock per file, one `open("a")` per line.
A failed write is logged and dropped; it never fails the request being recorded.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

log = logging.getLogger(__name__)

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def _lock_for(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def append_line(env_var: str, record: dict[str, Any]) -> None:
    """Append `record` as one JSON line to the file `env_var` names (read now); nothing when unset."""
    path = os.environ.get(env_var)
    if not path:
        return
    try:
        line = json.dumps(record, default=str) + "\n"
        with _lock_for(path), open(path, "a", encoding="utf-8") as out:
            out.write(line)
    except (OSError, TypeError, ValueError) as exc:
        log.warning("cannot append to the %s file: %s", env_var, exc)
