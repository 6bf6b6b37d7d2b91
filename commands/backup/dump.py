"""`pg_dump` of one database, streamed through gzip into a file, never held in memory.

The dump is plain SQL (`gunzip | psql` restores it) without owners or privileges. It is written to
`<database>.sql.gz.partial` and renamed to `<database>.sql.gz` only when pg_dump exited 0; on any
failure (non-zero exit, timeout, disk error, interruption) the partial file is removed. The password
reaches pg_dump through its own environment (`PGPASSWORD`), never its command line; pg_dump's stderr
is redacted before it becomes a message.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from commands.backup.client_process import client_process, connection_arguments
from commands.clients.databases import DatabaseTarget
from commands.contract import OperationError

CHUNK_SIZE = 64 * 1024
DEFAULT_DUMP_TIMEOUT = 30 * 60.0  # seconds per database


@dataclass(frozen=True)
class DumpOutcome:
    """The final file of one successful dump, its size and sha256 (of the gzip bytes on disk)."""

    path: Path
    size: int
    sha256: str


class _HashingWriter:
    """A file-like sink for GzipFile that counts and hashes what reaches the file."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._raw.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._raw.flush()

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def pg_dump_path() -> str:
    """The pg_dump executable on PATH; OperationError when there is none."""
    found = shutil.which("pg_dump")
    if found is None:
        raise OperationError("pg_dump is not installed on the bot's host (not found on PATH)")
    return found


def pg_dump_command(executable: str, target: DatabaseTarget, snapshot: str | None = None) -> list[str]:
    """The argument vector: connection without password, plain format, no owners or privileges, and
    the exported `snapshot` to dump when one is given."""
    command = [executable, "--format=plain", "--no-owner", "--no-privileges"]
    if snapshot:
        command.append(f"--snapshot={snapshot}")
    return command + connection_arguments(target)


def dump_database(
    target: DatabaseTarget,
    directory: Path,
    *,
    timeout: float = DEFAULT_DUMP_TIMEOUT,
    executable: str | None = None,
    snapshot: str | None = None,
) -> DumpOutcome:
    """Dump `target` (as of the exported `snapshot` when given) into `directory/<name>.sql.gz`.

    Raises OperationError; leaves no partial file.
    """
    final = directory / f"{target.name}.sql.gz"
    partial = directory / f"{target.name}.sql.gz.partial"
    command = pg_dump_command(executable or pg_dump_path(), target, snapshot)
    with client_process(
        "pg_dump", command, target, timeout=timeout, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    ) as child:
        try:
            stdout = child.process.stdout
            assert stdout is not None
            with partial.open("xb") as raw:
                sink = _HashingWriter(raw)
                with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=6) as compressed:
                    while chunk := stdout.read(CHUNK_SIZE):
                        compressed.write(chunk)
                raw.flush()
                os.fsync(raw.fileno())
            code = child.process.wait()
            if child.expired.is_set():
                raise OperationError(
                    f"pg_dump of the {target.name} database ({target.where}) timed out after {timeout:g} s"
                )
            if code != 0:
                raise OperationError(
                    f"pg_dump of the {target.name} database ({target.where}) failed: {child.failure()}"
                )
            os.replace(partial, final)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise OperationError(
                f"writing the dump of the {target.name} database to {directory} failed: {exc.strerror or exc}"
            ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return DumpOutcome(path=final, size=sink.size, sha256=sink.hexdigest)
