"""Loading a dump into a database: the gzip file streamed, inflated, into `psql`, never held in memory.

psql runs with no startup file, stops at the first error and wraps the whole dump in one transaction,
so a failed load leaves the database empty. The password reaches psql through its environment only;
psql's stderr is redacted before it becomes a message. A timeout or an interruption kills psql.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import IO

from commands.backup.client_process import client_process, connection_arguments
from commands.backup.dump import DEFAULT_DUMP_TIMEOUT
from commands.clients.databases import DatabaseTarget
from commands.contract import OperationError

CHUNK_SIZE = 256 * 1024
DEFAULT_LOAD_TIMEOUT = DEFAULT_DUMP_TIMEOUT  # seconds per database


def psql_path() -> str:
    """The psql executable on PATH; OperationError when there is none."""
    found = shutil.which("psql")
    if found is None:
        raise OperationError("psql is not installed on the bot's host (not found on PATH)")
    return found


def psql_command(executable: str, target: DatabaseTarget) -> list[str]:
    return [
        executable,
        "--no-psqlrc",
        "--quiet",
        "--set",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        *connection_arguments(target),
    ]


def _feed(dump: Path, stdin: IO[bytes]) -> bool:
    """Inflate `dump` into psql's stdin; False when psql stopped reading (it failed: its exit says why)."""
    try:
        with gzip.open(dump, "rb") as source:
            while chunk := source.read(CHUNK_SIZE):
                stdin.write(chunk)
        stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def load_dump(
    dump: Path,
    target: DatabaseTarget,
    *,
    timeout: float = DEFAULT_LOAD_TIMEOUT,
    executable: str | None = None,
) -> None:
    """Load the gzip'd plain dump `dump` into the (empty) database of `target`. Raises OperationError."""
    command = psql_command(executable or psql_path(), target)
    what = f"loading {dump.name} into {target.where}"
    with client_process(
        "psql", command, target, timeout=timeout, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    ) as child:
        try:
            assert child.process.stdin is not None
            _feed(dump, child.process.stdin)
            code = child.process.wait()
        except (OSError, EOFError, zlib.error) as exc:
            raise OperationError(f"{what} failed: the dump cannot be read ({exc})") from None
        if child.expired.is_set():
            raise OperationError(f"{what} timed out after {timeout:g} s")
        if code != 0:
            raise OperationError(f"{what} failed: {child.failure()}")
