"""Running a PostgreSQL client program (pg_dump, psql) on one database: its arguments without the
password, its environment with it, a deadline that kills it, and its failure in one redacted line.

The password reaches the child through its own environment (`PGPASSWORD`), never its command line;
the bot's own PG* variables are not passed on. stderr goes to a temporary file, read back (at most
STDERR_LIMIT bytes) only to say why the program failed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from commands.clients.databases import DatabaseTarget, last_meaningful_line, redact
from commands.contract import OperationError

STDERR_LIMIT = 64 * 1024  # bytes of the child's stderr read for the error message


def connection_arguments(target: DatabaseTarget) -> list[str]:
    """libpq client arguments (pg_dump, psql) naming `target` without its password."""
    arguments: list[str] = []
    if target.host:
        arguments += ["--host", target.host]
    if target.port:
        arguments += ["--port", target.port]
    if target.user:
        arguments += ["--username", target.user]
    return [*arguments, "--no-password", "--dbname", target.dbname_conninfo()]


def child_environment(target: DatabaseTarget) -> dict[str, str]:
    """The bot's environment without its own PG* variables, plus PGPASSWORD and a connect timeout."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if target.password:
        environment["PGPASSWORD"] = target.password
    if "connect_timeout" not in target.options:
        environment["PGCONNECT_TIMEOUT"] = "10"
    return environment


@dataclass
class ClientProcess:
    """A running client program; `expired` is set when its deadline killed it."""

    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    expired: threading.Event
    target: DatabaseTarget
    program: str

    def failure(self) -> str:
        """The last meaningful line of stderr, redacted, without the program's prefix."""
        self.stderr.seek(0)
        text = self.stderr.read(STDERR_LIMIT).decode("utf-8", errors="replace")
        line = last_meaningful_line(redact(text, [self.target.password]), prefix=f"{self.program}: ")
        return line or "no error message"


@contextmanager
def client_process(
    program: str, command: list[str], target: DatabaseTarget, *, timeout: float, stdin: Any, stdout: Any
) -> Iterator[ClientProcess]:
    """Start `command` (the program `program`) on `target`; killed after `timeout` seconds, and on the
    way out of the block when still running. Raises OperationError when it cannot be started."""
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                command, stdin=stdin, stdout=stdout, stderr=stderr, env=child_environment(target)
            )
        except OSError as exc:
            raise OperationError(f"cannot run {program}: {exc.strerror or exc}") from None
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            yield ClientProcess(process, stderr, expired, target, program)
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None and not pipe.closed:
                    with contextlib.suppress(OSError):  # a broken pipe to a child that is gone
                        pipe.close()
