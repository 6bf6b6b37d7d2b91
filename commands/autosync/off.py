"""`autosync off`: LITELLM_AUTO_SYNC=false on the backend (restarts it)."""

from __future__ import annotations

from typing import Any

from commands.autosync.change import AutosyncChange
from commands.autosync.state import AUTO_SYNC, RESTART_RISK, STARTUP_NOTE, AutoSyncState
from commands.contract import (
    Args,
)


class AutosyncOffArgs(Args):
    """`autosync off`."""


class AutosyncOffOperation(AutosyncChange):
    """Turn off the backend's periodic model sync (LITELLM_AUTO_SYNC=false); restarts the backend."""

    name = "autosync off"
    args_model = AutosyncOffArgs

    def wanted(self, state: AutoSyncState, args: Any) -> dict[str, str]:
        if state.enabled or state.auto_sync.source:
            return {AUTO_SYNC: "false"}
        return {}

    def risks(self) -> tuple[str, ...]:
        return (RESTART_RISK, STARTUP_NOTE)
