"""What `backup restore <id> [--database …]` would do: which databases, from which dumps, under which
names, which writers it stops, and every lock it needs; refusals before anything changes.

Each chosen database D is loaded into a new database `D_restore_<id>`, which after its verify takes D's
name while D is kept as `D_before_<id>` (until `backup restore --cleanup`). A backup taken in the other
database layout (one shared database vs two) is refused: its dumps do not map onto today's databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from commands import targets
from commands.backup.census import TableCensus, total_rows
from commands.backup.locate import LocatedBackup, locate_backup
from commands.backup.manifest import BackupFile
from commands.backup.pgserver import check_name, database_exists, where_server
from commands.backup.proving import census_of
from commands.backup.report import duration_text, plural, when
from commands.backup.restore.writers import Writer, current_writers
from commands.clients.databases import DatabaseTarget, database_targets
from commands.contract import Change, OperationError, Plan
from commands.environment import Environment

SHOWN_TABLES = 8  # tables whose rows differ, listed in the plan

# Every lock a restore holds, all at once (issue 12 takes such a set atomically). It stops the writers'
# Deployments (so also what `upgrade all` / `restart all` lock), replaces the databases (so every
# operation that writes into them: keys, catalogue, admins) and must not race a backup or a verify.
DATABASE_WRITER_LOCKS = (targets.KEYSTORE, targets.CATALOGUE, targets.USERS)  # keys *, models *, admin *


def restore_locks(env: Environment) -> tuple[str, ...]:
    """The set of lock targets of a restore (and of its cleanup), `targets.BACKUP` first."""
    deployments = tuple(
        targets.deployment(env.components[name].deployment)
        for name in ("backend", "litellm")
        if name in env.components
    )
    databases = (targets.database("litemaas"), targets.database("litellm"))
    return (targets.BACKUP, targets.ALL_DEPLOYMENTS, *deployments, *databases, *DATABASE_WRITER_LOCKS)


def database_suffix(backup_id: str) -> str:
    """The backup id as it appears in database names: lower case (`20260618t020000z`)."""
    return backup_id.lower().replace("-", "_")


@dataclass(frozen=True)
class Swap:
    """One database to replace: today's, the dump to load, the new database's and the kept one's names."""

    live: DatabaseTarget
    file: BackupFile
    new_name: str
    kept_name: str


@dataclass(frozen=True)
class RestoreSetup:
    """Everything a restore acts on, read from the backups, the databases' server and Kubernetes."""

    located: LocatedBackup
    swaps: tuple[Swap, ...]
    writers: tuple[Writer, ...]

    @property
    def backup_id(self) -> str:
        return self.located.id


def _chosen(
    env: Environment, located: LocatedBackup, database: str | None
) -> list[tuple[DatabaseTarget, BackupFile]]:
    live = database_targets(env)
    files = {f.database: f for f in located.manifest.files}
    shared_now = len(live) == 1
    shared_then = list(files) == ["litemaas"]
    if shared_now and not shared_then:
        raise OperationError(
            f"backup {located.id} holds LiteMaaS and LiteLLM in two databases, but here LiteLLM shares the "
            f"litemaas database ({live[0].where}): this backup cannot be restored onto this layout"
        )
    if shared_then and not shared_now:
        raise OperationError(
            f"backup {located.id} was taken when LiteLLM shared the litemaas database; here they are two "
            "databases: this backup cannot be restored onto this layout"
        )
    if database == "litellm" and shared_now:
        raise OperationError(
            f"LiteLLM shares the litemaas database here ({live[0].where}): restore it with "
            "--database litemaas (which holds both)"
        )
    chosen = [t for t in live if database is None or t.name == database]
    pairs: list[tuple[DatabaseTarget, BackupFile]] = []
    for target in chosen:
        file = files.get(target.name)
        if file is None:
            raise OperationError(f"backup {located.id} has no dump of the {target.name} database")
        pairs.append((target, file))
    return pairs


def restore_setup(env: Environment, backup_id: str, database: str | None) -> RestoreSetup:
    """Read what a restore acts on; OperationError for every refusal (nothing is changed here)."""
    located = locate_backup(env, backup_id)
    suffix = database_suffix(located.id)
    swaps: list[Swap] = []
    for live, file in _chosen(env, located, database):
        swap = Swap(
            live,
            file,
            check_name(f"{live.dbname}_restore_{suffix}"),
            check_name(f"{live.dbname}_before_{suffix}"),
        )
        if database_exists(live, swap.kept_name):
            raise OperationError(
                f"{swap.kept_name} already exists on {where_server(live)} (kept by an earlier restore of "
                f"this backup): drop it first with `backup restore --cleanup {located.id}`"
            )
        swaps.append(swap)
    return RestoreSetup(located, tuple(swaps), tuple(current_writers(env)))


def _counts(tables: tuple[TableCensus, ...] | None) -> str:
    if tables is None:
        return "not recorded (an older backup)"
    return f"{plural(len(tables), 'table')}, {total_rows(tables):,} rows"


def _table_changes(swap: Swap, today: tuple[TableCensus, ...]) -> list[Change]:
    """A change per table whose rows differ between today and the backup (at most SHOWN_TABLES)."""
    if swap.file.tables is None:
        return []
    now = {t.name: t.rows for t in today}
    then = {t.name: t.rows for t in swap.file.tables}
    differing = [n for n in sorted(set(now) | set(then)) if now.get(n) != then.get(n)]
    changes = [
        Change(
            f"database/{swap.live.name}",
            f"table {n} rows",
            str(now.get(n, "absent")),
            str(then.get(n, "absent")),
        )
        for n in differing[:SHOWN_TABLES]
    ]
    if len(differing) > SHOWN_TABLES:
        more = len(differing) - SHOWN_TABLES
        changes.append(Change(f"database/{swap.live.name}", f"{plural(more, 'other table')}", "…", "…"))
    return changes


def restore_plan(env: Environment, setup: RestoreSetup) -> Plan:
    """The plan of the card: databases with today's counts against the backup's, writers, names, risks."""
    manifest = setup.located.manifest
    age = duration_text(datetime.now(UTC) - manifest.created_at)
    changes: list[Change] = [
        Change("backups", "safety backup", "—", "a new backup of every database, taken first"),
    ]
    changes += [
        Change(w.target, "replicas", str(w.replicas), f"0 during the restore, then {w.replicas}")
        for w in setup.writers
    ]
    observed: dict[str, Any] = {
        "backup": setup.backup_id,
        "files": {s.file.database: s.file.sha256 for s in setup.swaps},
        "databases": {s.live.name: s.live.where for s in setup.swaps},
        "writers": {w.component.deployment: w.replicas for w in setup.writers},
    }
    for swap in setup.swaps:
        today = census_of(swap.live)
        changes.append(
            Change(
                f"database/{swap.live.name} ({swap.live.where})",
                "contents",
                f"today: {_counts(today)}",
                f"backup {setup.backup_id} ({age} old): {_counts(swap.file.tables)}",
            )
        )
        changes += _table_changes(swap, today)
        changes.append(Change(f"database/{swap.live.name}", "today's database kept as", "—", swap.kept_name))
    names = " and ".join(f"{s.live.name} ({s.live.dbname})" for s in setup.swaps)
    writers = (
        ", ".join(f"{w.component.name} ({w.replicas})" for w in setup.writers if w.replicas) or "none running"
    )
    risks = (
        f"LiteMaaS and LiteLLM are down from the moment their writers stop until they are back: {writers}",
        f"everything written since the backup ({when(manifest.created_at)}, {age} ago) leaves the live "
        "database; it stays in the kept database until `backup restore --cleanup`",
        "sessions still connected to the database(s) once the writers are at 0 are terminated (swap)",
    )
    return Plan(
        summary=f"Restore {names} from backup {setup.backup_id} ({age} old, "
        f"from {setup.located.place.name}): safety backup, writers stopped, restored into a new "
        "database, verified, swapped in, writers back",
        target=targets.BACKUP,
        targets=restore_locks(env),
        changes=tuple(changes),
        risks=risks,
        observed=observed,
    )
