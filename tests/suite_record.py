"""What the whole test run sent to the sandbox Kubernetes and Slack APIs, attributed to the test running.

The conftest points the sandboxes' request files (`KUBE_SANDBOX_REQUEST_LOG`, `SLACK_SANDBOX_CALL_LOG`)
at a fresh directory per run and writes a `{"test_started": nodeid}` line into both before each test,
so every later line belongs to that test. Tests marked `suite_wide` run last and read the files.

"Whole suite" rule (when a check that something was *used* is meaningful): nothing was deselected
(-k, -m, --deselect, --lf, --sw all report through `pytest_deselected`) and every test module under
tests/ (per `python_files`) has at least one collected item — so no path narrowing, `--ignore` or
module skipped at import; judged when collection ends. Failing or skipped tests do not change the verdict.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox.kube.recording import REQUEST_LOG_ENV
from sandbox.line_log import append_line
from sandbox.slack.calls import CALL_LOG_ENV

TESTS_DIR = Path(__file__).resolve().parent
SUITE_WIDE = "suite_wide"
SUITE_WIDE_HELP = f"{SUITE_WIDE}: runs after every other test; checks what the whole run sent"
TEST_STARTED = "test_started"
KUBE_LOG_ENV = REQUEST_LOG_ENV
SLACK_LOG_ENV = CALL_LOG_ENV
LOG_ENVS = (KUBE_LOG_ENV, SLACK_LOG_ENV)
KEEP_DIR_ENV = "SUITE_TRAFFIC_DIR"  # set it to keep the run's files there, to read what the bot sent


@dataclass(frozen=True)
class Sent:
    """One recorded request and the node id of the test running when the sandbox received it."""

    test: str
    record: dict[str, Any]

    @property
    def user_agent(self) -> str:
        return str(self.record.get("user_agent") or "")


@dataclass
class SuiteRecord:
    """The run's request files (a fresh temporary directory) and what narrowed the run, if anything."""

    directory: Path
    saved_env: dict[str, str | None]
    deselected: int = 0
    modules_missed: set[Path] = field(default_factory=set)
    files: dict[str, Path] = field(default_factory=dict)

    keep: bool = False

    @classmethod
    def start(cls) -> SuiteRecord:
        """Empty files in a fresh temporary directory (or in `$KEEP_DIR_ENV`, kept after the run);
        both environment variables point at them (subprocesses inherit them)."""
        kept = os.environ.get(KEEP_DIR_ENV)
        directory = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="chatops-suite-traffic-"))
        directory.mkdir(parents=True, exist_ok=True)
        record = cls(directory, {env: os.environ.get(env) for env in LOG_ENVS}, keep=bool(kept))
        for env in LOG_ENVS:
            path = directory / f"{env.lower()}.jsonl"
            path.write_text("")
            record.files[env] = path
            os.environ[env] = str(path)
        return record

    def finish(self) -> None:
        """Put the environment back and delete the files (unless kept)."""
        for env, value in self.saved_env.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    def sent(self, env: str) -> list[Sent]:
        """Every line of one file, each with the test that was running."""
        test = ""
        found: list[Sent] = []
        for line in self.files[env].read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crashed writer
            if not isinstance(record, dict):
                continue
            if TEST_STARTED in record:
                test = str(record[TEST_STARTED])
            else:
                found.append(Sent(test, record))
        return found

    def collected(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """At the end of collection: which test modules under tests/ exist and which have items."""
        patterns = config.getini("python_files")
        on_disk = {
            p for p in TESTS_DIR.rglob("*.py") if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
        }
        self.modules_missed = on_disk - {item.path for item in items}

    def not_whole_suite(self) -> list[str]:
        """Why this run is not the whole suite (see the module docstring); [] when it is."""
        reasons = []
        if self.deselected:
            reasons.append(f"{self.deselected} tests deselected")
        missing = sorted(str(p.relative_to(TESTS_DIR)) for p in self.modules_missed)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            reasons.append(f"modules not collected: {shown}")
        return reasons


SUITE_RECORD = pytest.StashKey[SuiteRecord]()


def mark_test_start(nodeid: str) -> None:
    """Write the test-start line into both files: what follows was received while `nodeid` ran."""
    for env in LOG_ENVS:
        append_line(env, {TEST_STARTED: nodeid})


def end_of_collection(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reorder in place: tests marked `suite_wide` after all others (both groups keep their order);
    note which test modules were collected (files added while the run goes on do not count)."""
    if SUITE_RECORD in config.stash:
        config.stash[SUITE_RECORD].collected(config, items)
    last = [item for item in items if item.get_closest_marker(SUITE_WIDE) is not None]
    if last:
        items[:] = [item for item in items if item.get_closest_marker(SUITE_WIDE) is None] + last


def count_deselected(items: Iterable[pytest.Item]) -> None:
    """Remember that the run was narrowed (called by pytest for each batch of deselected items)."""
    batch = list(items)
    if batch and SUITE_RECORD in batch[0].config.stash:
        batch[0].config.stash[SUITE_RECORD].deselected += len(batch)
