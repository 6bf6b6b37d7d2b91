"""`keys cleanup [--older-than 30d]`: delete stale LiteLLM keys, then mark their LiteMaaS rows (§4).

Per page of selected keys (`commands.keys.selection`, keyset pages of `batch_size`):
1. `POST /key/delete {"keys": [tokens]}` — one request per batch;
2. for exactly the tokens LiteLLM confirmed, plus those proven absent (gone from LiteLLM's table AND
   `/key/info` answers "not found" or status "deleted"), ONE UPDATE marks the matching active
   `api_keys` rows (`litellm_key_alias` = the key's alias, or `key_hash` = token): `is_active=false,
   revoked_at=now(), sync_status='error', sync_error='Key deleted by cleanup'`;
3. any other token is a failure: its row is untouched.
Then the orphan pass (`commands.keys.orphans`) marks active rows whose LiteLLM key is gone.

Why a crash, a LiteLLM outage or a dropped PostgreSQL link loses nothing and does nothing twice:
- the order is always "LiteLLM confirms, then mark", so no row is marked for a key that may still exist;
- every run selects from the current state: a deleted key is no longer in `"LiteLLM_VerificationToken"`,
  so it is never sent again, and a failed one still is, so the next run retries it;
- the UPDATEs only touch `is_active = true` rows, so a row is marked at most once, and re-running one
  after a dropped connection is harmless (PostgreSQL calls are retried on a new connection);
- a key deleted whose row could not be marked (PostgreSQL down right after the delete) is caught by the
  orphan pass of this or the next run (then with sync_error 'Key deleted from LiteLLM').
After `MAX_FAILED_BATCHES` failed batches in a row (LiteLLM down) the run stops and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import psycopg
from pydantic import Field, field_validator

from commands.clients.litellm import LiteLLMClient, LiteLLMError, litellm_client
from commands.clients.sessions import KeyDatabases, Session, key_databases, litellm_session, litemaas_session
from commands.contract import (
    Args,
    Change,
    Event,
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    Section,
    shown_as,
)
from commands.environment import Environment
from commands.keys.durations import format_age, parse_age
from commands.keys.orphans import ORPHAN_REASON, find_orphans, mark_orphans_on
from commands.keys.selection import (
    Candidate,
    Selection,
    candidate_page,
    count_candidates,
    present_tokens,
    sample_candidates,
    selection_now,
)
from commands.targets import KEYSTORE

CLEANUP_REASON = "Key deleted by cleanup"
BATCH_SIZE = 500
MAX_FAILED_BATCHES = 3
RECHECK_WORKERS = 8
SAMPLE_SIZE = 5
REASONS_SHOWN = 5

_MARK_SQL = """UPDATE api_keys SET is_active = false, revoked_at = now(), sync_status = 'error',
    sync_error = %(reason)s, updated_at = now()
    WHERE is_active = true AND (key_hash = ANY(%(tokens)s) OR litellm_key_alias = ANY(%(aliases)s))"""


class CleanupArgs(Args):
    """`keys cleanup [--older-than 30d]`."""

    older_than: str = Field(default="30d", json_schema_extra=shown_as("30d"))

    @field_validator("older_than")
    @classmethod
    def _age(cls, value: str) -> str:
        return format_age(parse_age(value))

    @property
    def age(self) -> timedelta:
        return parse_age(self.older_than)


@dataclass
class CleanupReport:
    """What a run did; `failures` holds (key shown safely, reason) for the first few failed keys."""

    selected: int = 0
    deleted: int = 0  # confirmed by LiteLLM's /key/delete
    proven_absent: int = 0  # not confirmed, but gone from LiteLLM
    marked: int = 0  # LiteMaaS rows marked for deleted or absent keys
    orphans_marked: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None  # why the run ended early, if it did
    duration: float = 0.0

    @property
    def processed(self) -> int:
        return self.deleted + self.proven_absent + self.failed

    def fail(self, candidates: list[Candidate], reason: str) -> None:
        self.failed += len(candidates)
        for c in candidates:
            if len(self.failures) < REASONS_SHOWN:
                self.failures.append((c.shown(), reason))


def mark_deleted(conn: psycopg.Connection[Any], done: list[Candidate], reason: str = CLEANUP_REASON) -> int:
    """One UPDATE marking the active rows of keys LiteLLM no longer has; returns rows marked."""
    tokens = [c.token for c in done]
    aliases = [c.alias for c in done if c.alias]
    return conn.execute(_MARK_SQL, {"reason": reason, "tokens": tokens, "aliases": aliases}).rowcount


def _gone(info: dict[str, Any] | None) -> bool:
    """`/key/info` proves a key absent: not found, or served from the deleted archive."""
    if info is None:
        return True
    inner = info.get("info")
    status = (inner if isinstance(inner, dict) else info).get("status")
    return status == "deleted"


def _safe_error(exc: BaseException) -> str:
    if isinstance(exc, LiteLLMError):
        return str(exc)[:200]
    return f"{type(exc).__name__}"


class _Batcher:
    """Deletes one batch and sorts its keys into confirmed / proven absent / failed."""

    def __init__(self, client: LiteLLMClient, litellm_db: Session, report: CleanupReport) -> None:
        self.client = client
        self.litellm_db = litellm_db
        self.report = report
        self.failed_in_a_row = 0

    def delete(self, page: list[Candidate]) -> list[Candidate]:
        """The candidates LiteLLM no longer has after this batch (confirmed or proven absent)."""
        tokens = [c.token for c in page]
        error: str | None = None
        try:
            confirmed = set(self.client.delete_keys(keys=tokens))
        except LiteLLMError as exc:
            confirmed, error = set(), f"LiteLLM /key/delete failed: {_safe_error(exc)}"
        done = [c for c in page if c.token in confirmed]
        unconfirmed = [c for c in page if c.token not in confirmed]
        self.report.deleted += len(done)
        absent = self._recheck(unconfirmed, error or "LiteLLM did not confirm the deletion")
        self.report.proven_absent += len(absent)
        self.failed_in_a_row = self.failed_in_a_row + 1 if error else 0
        return done + absent

    def _recheck(self, unconfirmed: list[Candidate], reason: str) -> list[Candidate]:
        """Keys still in LiteLLM's table fail at once; the others are absent if /key/info agrees."""
        if not unconfirmed:
            return []
        try:
            present = self.litellm_db.run(lambda c: present_tokens(c, [k.token for k in unconfirmed]))
        except OperationError as exc:
            self.report.fail(unconfirmed, f"{reason}; and the re-check failed: {exc}")
            return []
        self.report.fail([c for c in unconfirmed if c.token in present], reason)
        maybe = [c for c in unconfirmed if c.token not in present]
        if not maybe:
            return []

        def ask(c: Candidate) -> tuple[Candidate, str | None]:
            try:
                return c, None if _gone(self.client.key_info(c.token)) else "still known to LiteLLM"
            except LiteLLMError as exc:
                return c, f"{reason}; /key/info failed: {_safe_error(exc)}"

        absent: list[Candidate] = []
        with ThreadPoolExecutor(max_workers=min(RECHECK_WORKERS, len(maybe))) as pool:
            for candidate, problem in pool.map(ask, maybe):
                if problem is None:
                    absent.append(candidate)
                else:
                    self.report.fail([candidate], problem)
        return absent


def run_cleanup(
    dbs: KeyDatabases, client: LiteLLMClient, older_than: timedelta, *, batch_size: int = BATCH_SIZE
) -> Generator[Progress, None, CleanupReport]:
    """Run §4 once, yielding Progress per batch; returns the report (never raises OperationError)."""
    started = time.monotonic()
    report = CleanupReport()
    with litellm_session(dbs, "cleanup") as litellm_db, litemaas_session(dbs, "cleanup") as litemaas_db:
        try:
            selection = litellm_db.run(lambda c: selection_now(c, older_than))
            expired, old = litellm_db.run(lambda c: count_candidates(c, selection))
        except OperationError as exc:
            report.stopped = str(exc)
            report.duration = time.monotonic() - started
            return report
        report.selected = expired + old
        yield Progress(f"0 / {report.selected:,} keys", done=0, total=report.selected)
        batcher = _Batcher(client, litellm_db, report)
        yield from _delete_all(selection, report, batcher, litemaas_db, batch_size)
        yield Progress("Orphan pass: LiteMaaS keys whose LiteLLM key is gone")
        try:
            report.orphans_marked = litemaas_db.run(lambda c: mark_orphans_on(c, dbs, ORPHAN_REASON))
        except OperationError as exc:
            report.stopped = "; ".join(filter(None, (report.stopped, f"orphan pass failed: {exc}")))
    report.duration = time.monotonic() - started
    return report


def _delete_all(
    selection: Selection, report: CleanupReport, batcher: _Batcher, litemaas_db: Session, batch_size: int
) -> Iterator[Progress]:
    after = ""
    while True:
        try:
            read = partial(candidate_page, selection=selection, after=after, limit=batch_size)
            page = batcher.litellm_db.run(read)
        except OperationError as exc:
            report.stopped = f"reading LiteLLM's keys failed: {exc}"
            return
        if not page:
            return
        after = page[-1].token
        gone = batcher.delete(page)
        if gone:
            try:
                report.marked += litemaas_db.run(partial(mark_deleted, done=gone))
            except OperationError as exc:
                report.stopped = (
                    f"marking LiteMaaS rows failed: {exc}; {len(gone):,} keys deleted in LiteLLM are "
                    "left for the orphan pass of the next run"
                )
                return
        total = max(report.selected, report.processed)
        yield Progress(f"{report.processed:,} / {total:,} keys", done=report.processed, total=total)
        if batcher.failed_in_a_row >= MAX_FAILED_BATCHES:
            report.stopped = f"LiteLLM failed {batcher.failed_in_a_row} batches in a row"
            return


def report_result(report: CleanupReport, older_than: str) -> Result:
    """The Result of a run: counts, failures with their first reasons, duration."""
    fields = {
        "selected": f"{report.selected:,}",
        "deleted in LiteLLM": f"{report.deleted:,}",
        "already gone (proven absent)": f"{report.proven_absent:,}",
        "LiteMaaS keys marked": f"{report.marked:,}",
        "orphans marked": f"{report.orphans_marked:,}",
        "failures": f"{report.failed:,}",
        "duration": f"{report.duration:.1f} s",
    }
    sections = [Section(title=f"Key cleanup (expired, or started more than {older_than} ago)", fields=fields)]
    if report.failures:
        sections.append(
            Section(title="First failures", lines=tuple(f"{key}: {why}" for key, why in report.failures))
        )
    ok = report.failed == 0 and report.stopped is None
    summary = (
        f"Deleted {report.deleted + report.proven_absent:,} of {report.selected:,} LiteLLM keys, marked "
        f"{report.marked:,} LiteMaaS keys and {report.orphans_marked:,} orphans in {report.duration:.1f} s"
    )
    warnings: list[str] = []
    if report.failed:
        summary += f"; {report.failed:,} failed"
    if report.stopped:
        warnings.append(f"Stopped early: {report.stopped}")
    if not ok:
        warnings.append("Run `keys cleanup` again to finish: nothing done is lost or repeated")
    return Result(ok=ok, summary=summary, sections=tuple(sections), warnings=tuple(warnings))


ClientFactory = Callable[[Environment], LiteLLMClient]


class KeysCleanupOperation(Operation[CleanupArgs]):
    """Delete expired and old LiteLLM keys in batches, then mark their LiteMaaS keys and the orphans."""

    name = "keys cleanup"
    args_model = CleanupArgs
    mutating = True
    default_role = "operator"
    default_approval = True

    def __init__(self, *, batch_size: int = BATCH_SIZE, client_factory: ClientFactory | None = None) -> None:
        self.batch_size = batch_size
        self.client_factory = client_factory or litellm_client

    def plan(self, env: Environment, args: CleanupArgs) -> Plan:
        """The dry-run: counts (expired, old, orphans) and a sample; the counts are the fingerprint."""
        dbs = key_databases(env)
        with litellm_session(dbs, "cleanup plan") as db:
            selection = db.run(lambda c: selection_now(c, args.age))
            expired, old = db.run(lambda c: count_candidates(c, selection))
            sample = db.run(lambda c: sample_candidates(c, selection, SAMPLE_SIZE))
        orphans = find_orphans(dbs, 0).count
        observed = {"expired": expired, "old": old, "orphans": orphans, "older_than": args.older_than}
        total = expired + old
        summary = (
            f"Delete {total:,} LiteLLM keys ({expired:,} expired, {old:,} started more than "
            f"{args.older_than} ago) and mark their LiteMaaS keys; mark {orphans:,} orphaned LiteMaaS keys"
        )
        changes = [
            Change("LiteLLM keys", "expired", f"{expired:,}", "deleted"),
            Change("LiteLLM keys", f"older than {args.older_than}", f"{old:,}", "deleted"),
            Change("LiteMaaS keys", "orphaned (LiteLLM key gone)", f"{orphans:,}", "marked inactive"),
        ]
        changes += [Change(f"key/{c.alias or c.token[:8]}", "expires", c.shown(), "deleted") for c in sample]
        risks = (f"{total:,} keys stop working at once; their owners must create new ones",) if total else ()
        return Plan(
            summary=summary,
            target=KEYSTORE,
            changes=tuple(changes),
            risks=risks,
            noop=total == 0 and orphans == 0,
            observed=observed,
        )

    def execute(self, env: Environment, args: CleanupArgs, plan: Plan | None) -> Iterator[Event]:
        """Progress per batch ("40,000 / 100,000 keys"), then the Result (see `report_result`)."""
        try:
            dbs = key_databases(env)
            client = self.client_factory(env)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Key cleanup cannot start: {exc}")
            return
        try:
            report = yield from run_cleanup(dbs, client, args.age, batch_size=self.batch_size)
        finally:
            client.close()
        yield report_result(report, args.older_than)
