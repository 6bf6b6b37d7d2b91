"""`backup verify [id]`: prove a backup restores, by restoring it, and that it holds what was dumped.

The backup (default: the newest anywhere) is read from the first place holding it (downloaded from S3),
each dump's sha256 and gzip stream are checked before anything is restored, then each dump is loaded
into a new scratch database (on the server of its database, or on BACKUP_VERIFY_DATABASE_URL's) whose
tables, columns, constraints and row counts are compared with the census the manifest recorded at dump
time. The scratch database is dropped whatever happens. The outcome is recorded in the backup's manifest
in every place holding it (so `backup list` shows it) unless the verify could not run at all (a place or
a server unreachable): that says nothing about the backup, and only fails the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from datetime import UTC, datetime

from pydantic import Field, field_validator

from commands.backup.census import total_rows
from commands.backup.load import psql_path
from commands.backup.locate import (
    LocatedBackup,
    checked_backup_id,
    local_copy,
    locate_backup,
    record_everywhere,
)
from commands.backup.manifest import BackupFile, BackupManifest, Verification, human_size
from commands.backup.pgserver import create_database, drop_database, where_server
from commands.backup.proving import Proof, load_and_compare
from commands.backup.report import plural, when
from commands.backup.verify import verify_file
from commands.clients.databases import DatabaseTarget, database_targets, parse_database_url
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
from commands.targets import BACKUP

VERIFY_SETTING = "BACKUP_VERIFY_DATABASE_URL"
SHOWN_DIFFERENCES = 10


class BackupVerifyArgs(Args):
    """`backup verify [<id>]`: the newest backup when no id is given."""

    positional = ("backup_id",)

    backup_id: str | None = Field(default=None, json_schema_extra=shown_as("id"))

    @field_validator("backup_id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return None if value is None else checked_backup_id(value)


def scratch_server(env_targets: list[DatabaseTarget], setting: str | None, database: str) -> DatabaseTarget:
    """Where the scratch database of `database` is made: the setting's server, else the database's own."""
    if setting:
        return parse_database_url("scratch", setting, f"setting {VERIFY_SETTING}")
    return next((t for t in env_targets if t.name == database), env_targets[0])


def scratch_name() -> str:
    """A name no one else uses: `chatops_verify_<12 hex>`."""
    return f"chatops_verify_{uuid.uuid4().hex[:12]}"


class VerifyFailed(OperationError):
    """The backup itself failed (a checksum, a load, a difference): recorded in its manifest."""


def _prove_one(
    file: BackupFile, server: DatabaseTarget, warnings: list[str]
) -> Generator[Progress, None, Proof]:
    """Load `file` into a scratch database on `server`, compare, drop the scratch database."""
    name = scratch_name()
    create_database(server, name)  # OperationError: the server, not the backup
    try:
        yield Progress(
            f"Restoring {file.database} ({human_size(file.size)}) into {name} on {where_server(server)}"
        )
        try:
            return load_and_compare(file, server, name)
        except OperationError as exc:
            raise VerifyFailed(f"{file.database} does not restore: {exc}") from None
    finally:
        try:
            drop_database(server, name)
        except OperationError as exc:
            warnings.append(f"the scratch database {name} was not dropped ({exc}); drop it by hand")


def _verification_result(located: LocatedBackup, proofs: list[Proof], failure: str | None) -> Result:
    sections = tuple(
        Section(
            title=p.database,
            fields={
                "tables": str(len(p.tables)),
                "rows": f"{total_rows(p.tables):,}",
                "restore time": f"{p.seconds:.1f} s",
                "status": "matches the manifest"
                if p.ok and p.counted
                else ("restores (no counts recorded)" if p.ok else "differs from the manifest"),
            },
            lines=p.differences[:SHOWN_DIFFERENCES],
        )
        for p in proofs
    )
    bid = located.id
    if failure is not None:
        return Result(ok=False, summary=f"Backup {bid} failed verify: {failure}", sections=sections)
    tables = sum(len(p.tables) for p in proofs)
    rows = sum(total_rows(p.tables) for p in proofs)
    names = " and ".join(p.database for p in proofs)
    return Result(
        ok=True,
        summary=f"Backup {bid} verified: {names} restore and match what was dumped "
        f"({plural(tables, 'table')}, {rows:,} rows)",
        sections=sections,
    )


def verify_backup(
    env_targets: list[DatabaseTarget], setting: str | None, manifest: BackupManifest, warnings: list[str]
) -> Generator[Progress, None, tuple[list[Proof], str | None]]:
    """Check and prove each file of `manifest` (files readable here); (proofs, the backup's failure or
    None). Raises OperationError (not VerifyFailed) when the verify cannot run."""
    proofs: list[Proof] = []
    for index, file in enumerate(manifest.files):
        yield Progress(f"Checking the sha256 of {file.path.name}", done=index, total=len(manifest.files))
        try:
            verify_file(file)
        except OperationError as exc:
            return proofs, str(exc).replace(str(file.path), file.path.name)
    for file in manifest.files:
        try:
            proof = yield from _prove_one(file, scratch_server(env_targets, setting, file.database), warnings)
        except VerifyFailed as exc:
            return proofs, str(exc)
        proofs.append(proof)
        if not proof.ok:
            return proofs, f"{file.database} differs from the manifest: {proof.differences[0]}"
    return proofs, None


class BackupVerifyOperation(Operation[BackupVerifyArgs]):
    """Restore a backup into scratch databases and compare it with what was dumped (default: the newest)."""

    name = "backup verify"
    args_model = BackupVerifyArgs
    mutating = True
    default_role = "operator"
    default_approval = False

    def plan(self, env: Environment, args: BackupVerifyArgs) -> Plan:
        """Which backup, from where, the scratch server of each database; refuses a bad setup."""
        psql_path()
        located = locate_backup(env, args.backup_id)
        targets = database_targets(env)
        manifest = located.manifest
        previous = manifest.verification
        last = (
            "never verified"
            if previous is None
            else f"{'passed' if previous.ok else 'failed'} {when(previous.at)}"
        )
        setting = env.backup_verify_database_url
        changes = (
            *(
                Change(
                    f"server {where_server(scratch_server(targets, setting, f.database))}",
                    "scratch database",
                    "—",
                    f"{f.database} restored into chatops_verify_…, compared, dropped",
                )
                for f in manifest.files
            ),
            Change(located.place.name, f"backup {located.id} last verify", last, "this verify's outcome"),
        )
        size = human_size(manifest.total_size)
        return Plan(
            summary=f"Verify backup {located.id} ({when(manifest.created_at)}, {size}, "
            f"from {located.place.name}) by restoring it into scratch databases",
            target=BACKUP,
            changes=changes,
            observed={"backup": located.id, "place": located.place.name},
        )

    def execute(self, env: Environment, args: BackupVerifyArgs, plan: Plan | None) -> Iterator[Event]:
        """Progress per step, then a Result with a section per database."""
        warnings: list[str] = []
        try:
            psql_path()
            targets = database_targets(env)
            wanted = args.backup_id or (
                str(plan.observed["backup"]) if plan and plan.observed.get("backup") else None
            )
            located = locate_backup(env, wanted)
            yield Progress(f"Reading backup {located.id} from {located.place.name}")
            with local_copy(env, located) as manifest:
                proofs, failure = yield from verify_backup(
                    targets, env.backup_verify_database_url, manifest, warnings
                )
        except OperationError as exc:
            yield Result(ok=False, summary=f"Cannot verify: {exc}", warnings=tuple(warnings))
            return
        result = _verification_result(located, proofs, failure)
        record = Verification(
            at=datetime.now(UTC),
            ok=result.ok,
            summary=result.summary,
            databases=tuple(p.line for p in proofs),
        )
        recorded, problems = record_everywhere(env, located.id, record)
        warnings += problems
        fields = {"recorded in": ", ".join(recorded) or "nowhere"}
        yield Result(
            ok=result.ok,
            summary=result.summary,
            sections=(*result.sections, Section(title="manifest", fields=fields)),
            warnings=tuple(warnings),
        )
