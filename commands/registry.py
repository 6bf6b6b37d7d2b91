"""Maps the verbs operators type (one or two words: "scale", "keys cleanup") to operation classes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from commands.contract import Operation

OperationClass = type[Operation[Any]]


class Registry:
    """Verb → operation class. The longest matching verb wins ("keys cleanup" before "keys").

    A verb may end in a flag (`keys orphans --fix`): a command of its own (role, approval, mutating)
    whose flag may be typed anywhere after the verb (`arrange` moves it next to the verb)."""

    def __init__(self, operations: Iterable[OperationClass] = ()) -> None:
        self._by_verb: dict[str, OperationClass] = {}
        for op in operations:
            self.register(op)

    def register(self, op: OperationClass) -> None:
        if op.name in self._by_verb:
            raise ValueError(f"verb {op.name!r} registered twice")
        self._by_verb[op.name] = op

    def get(self, verb: str) -> OperationClass | None:
        return self._by_verb.get(verb)

    def verbs(self) -> list[str]:
        return sorted(self._by_verb)

    def operations(self) -> list[OperationClass]:
        return [self._by_verb[v] for v in self.verbs()]

    def arrange(self, words: Sequence[str]) -> list[str]:
        """`words` with the flag of a flagged verb moved right after the verb's words
        (`keys orphans --dry-run --fix` → `keys orphans --fix --dry-run`); others unchanged."""
        for width in (2, 1):
            verb = " ".join(words[:width]).lower()
            if verb not in self._by_verb:
                continue
            for index in range(width, len(words)):
                word = words[index]
                if word.startswith("--") and f"{verb} {word.lower()}" in self._by_verb:
                    return [*words[:width], word, *words[width:index], *words[index + 1 :]]
            break
        return list(words)

    def match(self, words: Sequence[str]) -> tuple[OperationClass, int] | None:
        """The operation named by the first words (a flagged verb's flag next to it: `arrange`),
        and how many words its verb took."""
        for width in (3, 2, 1):
            if len(words) >= width:
                op = self._by_verb.get(" ".join(words[:width]).lower())
                if op is not None:
                    return op, width
        return None


def default_registry() -> Registry:
    """Every operation of `commands/` (the bot's own commands included), with its policy defaults."""
    from commands.admins.demote import AdminDemoteOperation
    from commands.admins.listing import AdminListOperation
    from commands.admins.promote import AdminPromoteOperation
    from commands.alerts.acknowledge import AlertsAckCommand
    from commands.alerts.listing import AlertsCommand
    from commands.alerts.silence import AlertsSilenceCommand, AlertsUnsilenceCommand
    from commands.autosync.off import AutosyncOffOperation
    from commands.autosync.on import AutosyncOnOperation
    from commands.autosync.status import AutosyncStatusOperation
    from commands.backup.operations import BackupListOperation, BackupNowOperation
    from commands.backup.restore.operation import BackupRestoreOperation
    from commands.backup.verifying import BackupVerifyOperation
    from commands.builtin.approvals import ApprovalsCommand
    from commands.builtin.audit import AuditCommand, AuditShowCommand
    from commands.builtin.help import HelpCommand
    from commands.builtin.locks import LocksCommand
    from commands.builtin.whoami import WhoamiCommand
    from commands.cache.flush import CacheFlushOperation
    from commands.cluster.logs import LogsOperation
    from commands.cluster.restart import RestartOperation
    from commands.cluster.rollback import RollbackOperation
    from commands.cluster.scale import ScaleOperation
    from commands.cluster.status import StatusOperation
    from commands.cluster.upgrade import UpgradeOperation
    from commands.cluster.versions import VersionsOperation
    from commands.drift.block import DriftBlockInactiveOperation
    from commands.drift.operation import DriftOperation
    from commands.keys.cleanup import KeysCleanupOperation
    from commands.keys.orphans import KeysOrphansFixOperation, KeysOrphansOperation
    from commands.keys.stats import KeysStatsOperation
    from commands.models.add import ModelsAddOperation
    from commands.models.listing import ModelsListOperation
    from commands.models.remove import ModelsRemoveOperation
    from commands.models.sync import ModelsSyncOperation
    from commands.models.verify import ModelsVerifyOperation
    from commands.schedules.listing import SchedulesOperation
    from commands.schedules.pause import SchedulesPauseOperation
    from commands.schedules.resume import SchedulesResumeOperation

    return Registry(
        [
            HelpCommand,
            WhoamiCommand,
            AuditCommand,
            AuditShowCommand,
            ApprovalsCommand,
            LocksCommand,
            AlertsCommand,
            AlertsAckCommand,
            AlertsSilenceCommand,
            AlertsUnsilenceCommand,
            StatusOperation,
            ScaleOperation,
            BackupNowOperation,
            BackupListOperation,
            BackupVerifyOperation,
            BackupRestoreOperation,
            UpgradeOperation,
            VersionsOperation,
            RollbackOperation,
            RestartOperation,
            LogsOperation,
            ModelsListOperation,
            ModelsVerifyOperation,
            ModelsAddOperation,
            ModelsRemoveOperation,
            KeysStatsOperation,
            KeysCleanupOperation,
            KeysOrphansOperation,
            KeysOrphansFixOperation,
            DriftOperation,
            DriftBlockInactiveOperation,
            ModelsSyncOperation,
            AutosyncStatusOperation,
            AutosyncOnOperation,
            AutosyncOffOperation,
            AdminPromoteOperation,
            AdminDemoteOperation,
            AdminListOperation,
            CacheFlushOperation,
            SchedulesOperation,
            SchedulesPauseOperation,
            SchedulesResumeOperation,
        ]
    )
