"""`backup restore --cleanup [<id>]`: drop the databases restores kept (`D_before_<id>`).

Only names a restore gives are ever considered: `<database>_before_<backup id>` next to each of the
environment's databases, of one backup or of all. The plan lists them with their sizes.
"""

from __future__ import annotations

from collections.abc import Iterator

from commands.backup.locate import BACKUP_ID_RE
from commands.backup.manifest import human_size
from commands.backup.pgserver import databases_like, drop_database, where_server
from commands.backup.report import plural
from commands.backup.restore.planning import database_suffix, restore_locks
from commands.clients.databases import DatabaseTarget, database_targets
from commands.contract import Change, Event, OperationError, Plan, Progress, Result
from commands.environment import Environment
from commands.targets import BACKUP


def kept_databases(env: Environment, backup_id: str | None) -> list[tuple[DatabaseTarget, str, int]]:
    """(live database, kept database, size) for every `D_before_<id>` a restore left."""
    found: list[tuple[DatabaseTarget, str, int]] = []
    for live in database_targets(env):
        prefix = f"{live.dbname}_before_"
        for name, size in databases_like(live, prefix):
            suffix = name[len(prefix) :]
            if backup_id is not None and suffix != database_suffix(backup_id):
                continue
            if backup_id is None and not BACKUP_ID_RE.match(suffix.upper().replace("_", "-")):
                continue
            found.append((live, name, size))
    return found


def cleanup_plan(env: Environment, backup_id: str | None) -> Plan:
    kept = kept_databases(env, backup_id)
    which = f"of backup {backup_id} " if backup_id else ""
    if not kept:
        return Plan(
            summary=f"No database kept by a restore {which}to drop",
            target=BACKUP,
            targets=restore_locks(env),
            noop=True,
            observed={"kept": []},
        )
    total = sum(size for _live, _name, size in kept)
    return Plan(
        summary=f"Drop {plural(len(kept), 'database')} kept by restores {which}({human_size(total)})",
        target=BACKUP,
        targets=restore_locks(env),
        changes=tuple(
            Change(f"server {where_server(live)}", f"database {name}", human_size(size), "dropped")
            for live, name, size in kept
        ),
        risks=("the data as it was before those restores is gone for good",),
        observed={"kept": sorted(name for _live, name, _size in kept)},
    )


def run_cleanup(env: Environment, backup_id: str | None) -> Iterator[Event]:
    """Drop each kept database; one that fails does not stop the others."""
    try:
        kept = kept_databases(env, backup_id)
    except OperationError as exc:
        yield Result(ok=False, summary=f"Cannot clean up: {exc}")
        return
    dropped: list[str] = []
    problems: list[str] = []
    for index, (live, name, _size) in enumerate(kept):
        yield Progress(f"Dropping {name}", done=index, total=len(kept))
        try:
            drop_database(live, name)
        except OperationError as exc:
            problems.append(str(exc))
            continue
        dropped.append(name)
    summary = f"Dropped {plural(len(dropped), 'kept database')}" + (
        f": {', '.join(dropped)}" if dropped else ""
    )
    if problems:
        summary += f"; failed: {'; '.join(problems)}"
    yield Result(ok=not problems, summary=summary)
