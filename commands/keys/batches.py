"""The batches of `keys cleanup` (product.md §4): delete a page in LiteLLM, then mark its LiteMaaS rows.

`delete_all` reads the selected keys page by page; per page, `_Batcher` sends one `POST /key/delete`
and sorts the keys into confirmed, proven absent (gone from LiteLLM's table and from `/key/info`) and
failed; `_Marker` marks the rows of the confirmed and proven-absent keys with ONE UPDATE served from
the indexes (`MARK_SQL`) on its own thread, overlapping the reading and deletion of the next page.
A row is never handed to the marker before LiteLLM answered for its key; at most one UPDATE runs, and
a run killed while it does leaves at most two batches deleted but unmarked, for the orphan pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg

from commands.clients.litellm import LiteLLMClient, LiteLLMError
from commands.clients.sessions import Session
from commands.contract import OperationError, Progress
from commands.keys.selection import Candidate, Selection, candidate_page, present_tokens

CLEANUP_REASON = "Key deleted by cleanup"
MAX_FAILED_BATCHES = 3
RECHECK_WORKERS = 8
REASONS_SHOWN = 5

# The rows are found through the key_hash and litellm_key_alias indexes, then updated by primary key:
# an `id = ANY(ARRAY(...))` the planner cannot turn into a Seq Scan of api_keys (the plain
# `key_hash = ANY(..) OR litellm_key_alias = ANY(..)` was one, 40 ms per batch on 100k rows).
MARK_SQL = """UPDATE api_keys SET is_active = false, revoked_at = now(), sync_status = 'error',
    sync_error = %(reason)s, updated_at = now()
    WHERE is_active = true AND id = ANY(ARRAY(
        SELECT id FROM api_keys WHERE key_hash = ANY(%(tokens)s)
        UNION SELECT id FROM api_keys WHERE litellm_key_alias = ANY(%(aliases)s)))"""


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
    return conn.execute(MARK_SQL, {"reason": reason, "tokens": tokens, "aliases": aliases}).rowcount


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


class Batcher:
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


class _Marker:
    """Marks the rows of one batch at a time on its own thread, so that the UPDATE of batch k runs while
    batch k+1 is deleted. It is only ever handed keys LiteLLM confirmed or proven absent (§4)."""

    def __init__(self, litemaas_db: Session, report: CleanupReport, pool: ThreadPoolExecutor) -> None:
        self.litemaas_db = litemaas_db
        self.report = report
        self.pool = pool
        self.pending: tuple[list[Candidate], Future[int]] | None = None

    def start(self, gone: list[Candidate]) -> None:
        """Mark `gone` (the previous mark has been waited for)."""
        assert self.pending is None
        self.pending = (gone, self.pool.submit(self.litemaas_db.run, partial(mark_deleted, done=gone)))

    def wait(self, also_deleted: int = 0) -> bool:
        """Wait for the running mark; False (and the run's `stopped` reason) when it failed. Keys deleted
        but left unmarked (its batch, plus `also_deleted` of the next) are for the orphan pass."""
        if self.pending is None:
            return True
        gone, future = self.pending
        self.pending = None
        try:
            self.report.marked += future.result()
        except OperationError as exc:
            left = len(gone) + also_deleted
            self.report.stopped = (
                f"marking LiteMaaS rows failed: {exc}; {left:,} keys deleted in LiteLLM are left for the "
                "orphan pass of the next run"
            )
            return False
        return True


def delete_all(
    selection: Selection, report: CleanupReport, batcher: Batcher, litemaas_db: Session, batch_size: int
) -> Iterator[Progress]:
    """Read, delete and mark page by page; the mark of a batch overlaps the reading and deletion of the
    next. Progress comes between the two, when no mark is running."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cleanup-mark") as pool:
        marker = _Marker(litemaas_db, report, pool)
        try:
            yield from _batches(selection, report, batcher, marker, batch_size)
        finally:
            marker.wait()  # the last batch's mark (or the one running when the run stopped)


def _batches(
    selection: Selection, report: CleanupReport, batcher: Batcher, marker: _Marker, batch_size: int
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
        if not marker.wait(also_deleted=len(gone)):
            return
        total = max(report.selected, report.processed)
        yield Progress(f"{report.processed:,} / {total:,} keys", done=report.processed, total=total)
        if gone:
            marker.start(gone)
        if batcher.failed_in_a_row >= MAX_FAILED_BATCHES:
            report.stopped = f"LiteLLM failed {batcher.failed_in_a_row} batches in a row"
            return
