"""`keys cleanup [--older-than 30d]`: delete stale LiteLLM keys, then mark their LiteMaaS rows (§4).

Per page of selected keys (`commands.keys.selection`, keyset pages of `batch_size`):
1. `POST /key/delete {"keys": [tokens]}` — one request per batch, one batch at a time;
2. for exactly the tokens LiteLLM confirmed, plus those proven absent (gone from LiteLLM's table AND
   `/key/info` answers "not found" or status "deleted"), ONE UPDATE marks the matching active
   `api_keys` rows (`litellm_key_alias` = the key's alias, or `key_hash` = token): `is_active=false,
   revoked_at=now(), sync_status='error', sync_error='Key deleted by cleanup'`. It runs on its own
   thread while the next page is read and deleted (at most one UPDATE at a time, started only after
   its batch's deletion was answered), served from the indexes: `commands.keys.batches`);
3. any other token is a failure: its row is untouched.
Then the orphan pass (`commands.keys.orphans`) marks active rows whose LiteLLM key is gone.

Why a crash, a LiteLLM outage or a dropped PostgreSQL link loses nothing and does nothing twice:
- the order is always "LiteLLM confirms, then mark", so no row is marked for a key that may still exist;
- every run selects from the current state: a deleted key is no longer in `"LiteLLM_VerificationToken"`,
  so it is never sent again, and a failed one still is, so the next run retries it;
- the UPDATEs only touch `is_active = true` rows, so a row is marked at most once, and re-running one
  after a dropped connection is harmless (PostgreSQL calls are retried on a new connection);
- a key deleted whose row could not be marked (PostgreSQL down right after the delete, or the bot
  killed while the UPDATE ran: at most two batches) is caught by the orphan pass of this or the next
  run (then with sync_error 'Key deleted from LiteLLM').
After `MAX_FAILED_BATCHES` failed batches in a row (LiteLLM down) the run stops and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from datetime import timedelta

from pydantic import Field, field_validator

from commands.clients.litellm import LiteLLMClient, litellm_client
from commands.clients.sessions import KeyDatabases, key_databases, litellm_session, litemaas_session
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
from commands.keys.batches import Batcher, CleanupReport, delete_all
from commands.keys.durations import format_age, parse_age
from commands.keys.orphans import ORPHAN_REASON, find_orphans, mark_orphans_on
from commands.keys.selection import count_candidates, sample_candidates, selection_now
from commands.targets import KEYSTORE

BATCH_SIZE = 500
SAMPLE_SIZE = 5


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
        batcher = Batcher(client, litellm_db, report)
        yield from delete_all(selection, report, batcher, litemaas_db, batch_size)
        yield Progress("Orphan pass: LiteMaaS keys whose LiteLLM key is gone")
        try:
            report.orphans_marked = litemaas_db.run(lambda c: mark_orphans_on(c, dbs, ORPHAN_REASON))
        except OperationError as exc:
            report.stopped = "; ".join(filter(None, (report.stopped, f"orphan pass failed: {exc}")))
    report.duration = time.monotonic() - started
    return report


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
        risks: tuple[str, ...] = (
            (f"{total:,} keys stop working at once; their owners must create new ones",) if total else ()
        ) + ("Keys expire all the time: the counts may have grown by the run; the result gives true counts",)
        return Plan(
            summary=summary,
            target=KEYSTORE,
            changes=tuple(changes),
            risks=risks,
            noop=total == 0 and orphans == 0,
            observed=observed,
            intent={
                "rule": "expired, or started before the threshold; orphans",
                "older_than": args.older_than,
            },
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
