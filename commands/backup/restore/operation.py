"""`backup restore <id> [--database litemaas|litellm]` and `backup restore --cleanup [<id>]`.

Admin, approved by two approvers other than the requester (`approvals_required`; the bot enforces it).
The plan is the card: the databases with today's counts against the backup's, the writers it stops and
their replicas, the names of the new and kept databases, the locks it holds (`Plan.targets`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, field_validator, model_validator

from commands.backup.dump import pg_dump_path
from commands.backup.load import psql_path
from commands.backup.locate import checked_backup_id
from commands.backup.restore.cleanup import cleanup_plan, run_cleanup
from commands.backup.restore.planning import restore_plan, restore_setup
from commands.backup.restore.steps import run_restore
from commands.contract import Args, Event, Operation, OperationError, Plan, Result, shown_as
from commands.environment import Environment


class BackupRestoreArgs(Args):
    """`backup restore <id> [--database litemaas|litellm]`, or `backup restore --cleanup [<id>]`."""

    positional = ("backup_id",)

    backup_id: str | None = Field(default=None, json_schema_extra=shown_as("id"))
    database: Literal["litemaas", "litellm"] | None = Field(
        default=None, json_schema_extra=shown_as("litemaas|litellm")
    )
    cleanup: bool = False

    @field_validator("backup_id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return None if value is None else checked_backup_id(value)

    @model_validator(mode="after")
    def _what(self) -> BackupRestoreArgs:
        if self.cleanup and self.database is not None:
            raise ValueError("--cleanup drops the kept databases of every database: leave out --database")
        if not self.cleanup and self.backup_id is None:
            raise ValueError("name the backup to restore (`backup list` shows them)")
        return self


class BackupRestoreOperation(Operation[BackupRestoreArgs]):
    """Restore a backup in place of today's databases (writers stopped, safety backup, verify, swap)."""

    name = "backup restore"
    args_model = BackupRestoreArgs
    mutating = True
    default_role = "admin"
    default_approval = True
    approvals_required = 2

    def plan(self, env: Environment, args: BackupRestoreArgs) -> Plan:
        """The card; refuses (OperationError) a backup that is missing, of the other layout, already
        restored and kept, or a setup without pg_dump/psql."""
        if args.cleanup:
            return cleanup_plan(env, args.backup_id)
        pg_dump_path()
        psql_path()
        assert args.backup_id is not None
        return restore_plan(env, restore_setup(env, args.backup_id, args.database))

    def execute(self, env: Environment, args: BackupRestoreArgs, plan: Plan | None) -> Iterator[Event]:
        """Progress per step; one Result that says what was done and, on failure, where it stopped."""
        if args.cleanup:
            yield from run_cleanup(env, args.backup_id)
            return
        assert args.backup_id is not None
        try:
            pg_dump_path()
            psql_path()
            setup = restore_setup(env, args.backup_id, args.database)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Restore refused: {exc}")
            return
        yield from run_restore(env, setup)
