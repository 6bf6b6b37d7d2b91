"""Running a restore: check the backup → safety backup → stop the writers → restore into new databases →
verify them against the manifest → swap them in → start the writers → status.

Until the swap nothing live is touched but the writers' replicas: a failure there drops the new
databases and scales the writers back (waiting for them), and the result names the step it stopped at.
The swap renames, per server in one transaction, `D` → `D_before_<id>` and `D_restore_<id>` → `D`, after
terminating the sessions still on `D` (the writers are at 0 by then). An interrupted run (the bot stops)
does the same clean-up on its way out, without waiting for the rollouts.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field

from commands.backup.census import compare, total_rows
from commands.backup.load import load_dump
from commands.backup.locate import local_copy
from commands.backup.manifest import BackupFile
from commands.backup.pgserver import create_database, drop_database, on_database, rename_all, where_server
from commands.backup.proving import census_of
from commands.backup.report import plural
from commands.backup.restore.planning import RestoreSetup, Swap
from commands.backup.restore.safety import safety_backup
from commands.backup.restore.writers import Writer, scale_back_now, start_writers, stop_writers
from commands.backup.verify import verify_file
from commands.clients.rolling import read_deployment
from commands.clients.rollout import rollout_status
from commands.contract import Event, OperationError, Progress, Result, Section
from commands.environment import Environment

STEPS = (
    "check the backup",
    "safety backup",
    "stop the writers",
    "restore into new databases",
    "verify against the manifest",
    "swap",
    "start the writers",
    "status",
)


@dataclass
class StepLog:
    """Which steps ran and how each ended, in order; `current` is the step under way."""

    lines: list[str] = field(default_factory=list)
    current: str = ""

    def begin(self, step: str) -> Progress:
        self.current = step
        number = STEPS.index(step) + 1
        return Progress(f"Step {number}/{len(STEPS)}: {step}", done=number - 1, total=len(STEPS))

    def done(self, what: str) -> None:
        self.lines.append(f"✓ {self.current}: {what}")

    def failed(self, why: str) -> None:
        self.lines.append(f"✗ {self.current}: {why}")
        for step in STEPS[STEPS.index(self.current) + 1 :]:
            self.lines.append(f"· {step}: not done")

    def section(self) -> Section:
        return Section(title="Steps", lines=tuple(self.lines))


@dataclass
class Progressed:
    """What a run changed so far, for the clean-up: writers scaled to 0, databases made, the swap."""

    stopped: list[Writer] = field(default_factory=list)
    created: list[tuple[Swap, str]] = field(default_factory=list)  # (swap, database created)
    swapped: bool = False


def _drop_created(progressed: Progressed) -> list[str]:
    problems: list[str] = []
    for swap, name in progressed.created:
        try:
            drop_database(swap.live, name)
        except OperationError as exc:
            problems.append(f"{exc}; drop it by hand")
    progressed.created.clear()
    return problems


def _restore_all(
    setup: RestoreSetup, files: dict[str, BackupFile], progressed: Progressed
) -> Generator[Progress, None, list[str]]:
    """Load each dump into its new database (a leftover of that name from an earlier attempt is ours);
    returns "name (time)" per database."""
    loaded: list[str] = []
    for swap in setup.swaps:
        drop_database(swap.live, swap.new_name)
        create_database(swap.live, swap.new_name, like=swap.live.dbname)
        progressed.created.append((swap, swap.new_name))
        yield Progress(f"Restoring {swap.file.database} into {swap.new_name} on {where_server(swap.live)}")
        started = time.monotonic()
        load_dump(files[swap.file.database].path, on_database(swap.live, swap.new_name))
        loaded.append(f"{swap.new_name} ({time.monotonic() - started:.1f} s)")
    return loaded


def _verify_all(setup: RestoreSetup) -> tuple[list[str], int, int]:
    """(differences, tables, rows) of the new databases against the manifest's census."""
    problems: list[str] = []
    tables = rows = 0
    for swap in setup.swaps:
        census = census_of(on_database(swap.live, swap.new_name))
        tables += len(census)
        rows += total_rows(census)
        if swap.file.tables is not None:
            problems += [f"{swap.file.database}: {d}" for d in compare(swap.file.tables, census)]
    return problems, tables, rows


def _swap_all(setup: RestoreSetup) -> int:
    """Swap every database in (per server, one transaction); undo the earlier servers when a later one
    fails. Returns the sessions terminated."""
    servers: dict[tuple[str, str], list[Swap]] = {}
    for swap in setup.swaps:
        servers.setdefault(swap.live.identity[:2], []).append(swap)
    done: list[list[Swap]] = []
    terminated = 0
    for swaps in servers.values():
        renames = [
            pair for s in swaps for pair in ((s.live.dbname, s.kept_name), (s.new_name, s.live.dbname))
        ]
        try:
            terminated += rename_all(swaps[0].live, renames)
        except OperationError:
            for earlier in done:
                back = [
                    p for s in earlier for p in ((s.live.dbname, s.new_name), (s.kept_name, s.live.dbname))
                ]
                rename_all(earlier[0].live, back)
            raise
        done.append(swaps)
    return terminated


def _status(env: Environment, setup: RestoreSetup) -> Section:
    fields: dict[str, str] = {}
    for writer in setup.writers:
        try:
            status = rollout_status(read_deployment(env, writer.component.deployment))
            fields[writer.target] = f"{status.available}/{status.desired} available"
        except OperationError as exc:
            fields[writer.target] = f"cannot be read: {exc}"
    for swap in setup.swaps:
        try:
            census = census_of(swap.live)
            fields[swap.live.dbname] = f"{plural(len(census), 'table')}, {total_rows(census):,} rows"
        except OperationError as exc:
            fields[swap.live.dbname] = f"cannot be read: {exc}"
        fields[swap.kept_name] = "the database before the restore (`backup restore --cleanup` drops it)"
    return Section(title="Status", fields=fields)


def _stopped_at(
    setup: RestoreSetup, log: StepLog, reason: str, progressed: Progressed, cleanup: list[str]
) -> Result:
    back = ", ".join(f"{w.component.name} at {w.replicas}" for w in progressed.stopped)
    summary = (
        f"Restore of backup {setup.backup_id} stopped at step “{log.current}”: {reason}. "
        "The live database was not changed"
    )
    summary += f"; the writers are back ({back})" if back and not cleanup else ""
    if cleanup:
        summary += f"; but the clean-up did not finish: {'; '.join(cleanup)}"
    return Result(ok=False, summary=summary, sections=(log.section(),))


def run_restore(env: Environment, setup: RestoreSetup) -> Generator[Event, None, None]:
    """The steps, as Progress events, then one Result saying what was done and where it stopped."""
    log = StepLog()
    progressed = Progressed()
    warnings: list[str] = []
    finished = False
    try:
        yield log.begin("check the backup")
        with local_copy(env, setup.located) as manifest:
            files = {f.database: f for f in manifest.files}
            for swap in setup.swaps:
                verify_file(files[swap.file.database])
            log.done(f"sha256 and gzip of {plural(len(setup.swaps), 'dump')} match the manifest")

            yield log.begin("safety backup")
            safety, stored, problems = yield from safety_backup(env)
            warnings += problems
            log.done(f"backup {safety.id} in {', '.join(stored)}")

            yield log.begin("stop the writers")
            yield from stop_writers(env, list(setup.writers), progressed.stopped)
            stopped = ", ".join(f"{w.component.name} {w.replicas} → 0" for w in progressed.stopped)
            log.done(f"{stopped or 'none was running'}; their pods are gone")

            yield log.begin("restore into new databases")
            loaded = yield from _restore_all(setup, files, progressed)
            log.done(", ".join(loaded))

        yield log.begin("verify against the manifest")
        differences, tables, rows = _verify_all(setup)
        if differences:
            raise OperationError(f"the restored data differs from the backup's manifest: {differences[0]}")
        log.done(f"{plural(tables, 'table')}, {rows:,} rows, as dumped")

        yield log.begin("swap")
        terminated = _swap_all(setup)
        progressed.swapped = True
        progressed.created.clear()
        renames = "; ".join(
            f"{s.live.dbname} → {s.kept_name}, {s.new_name} → {s.live.dbname}" for s in setup.swaps
        )
        log.done(f"{renames} ({plural(terminated, 'session')} terminated first)")
    except OperationError as exc:
        log.failed(str(exc))
        cleanup = _drop_created(progressed)
        if progressed.stopped:
            yield Progress("Starting the writers again")
            cleanup += yield from start_writers(env, progressed.stopped)
        finished = True
        yield _stopped_at(setup, log, str(exc), progressed, cleanup)
        return
    finally:
        if not finished and not progressed.swapped:  # interrupted: clean up without waiting
            _drop_created(progressed)
            scale_back_now(env, progressed.stopped)

    yield log.begin("start the writers")
    problems = yield from start_writers(env, progressed.stopped)
    if problems:
        log.failed("; ".join(problems))
    else:
        log.done(
            ", ".join(f"{w.component.name} back at {w.replicas}" for w in progressed.stopped)
            or "none to start"
        )
        yield log.begin("status")
        log.done("below")
    kept = ", ".join(s.kept_name for s in setup.swaps)
    names = " and ".join(s.live.dbname for s in setup.swaps)
    if problems:
        summary = (
            f"Backup {setup.backup_id} is restored into {names} (kept: {kept}), "
            f"but the writers are not all back: {problems[0]}"
        )
    else:
        summary = (
            f"Restored {names} from backup {setup.backup_id}, verified against its manifest; writers back; "
            f"the databases before the restore are kept as {kept} until `backup restore --cleanup`"
        )
    yield Result(
        ok=not problems,
        summary=summary,
        sections=(log.section(), _status(env, setup)),
        warnings=tuple(warnings),
    )
