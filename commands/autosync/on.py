"""`autosync on [--interval MIN]`: LITELLM_AUTO_SYNC=true on the backend (restarts it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from commands.autosync.change import AutosyncChange
from commands.autosync.state import (
    AUTO_SYNC,
    CASCADE_RISK,
    INTERVAL,
    MAX_INTERVAL,
    MIN_INTERVAL,
    RESTART_RISK,
    AutoSyncState,
)
from commands.contract import (
    Args,
    shown_as,
)


class AutosyncOnArgs(Args):
    """`autosync on [--interval MIN]`."""

    interval: int | None = Field(
        default=None, ge=MIN_INTERVAL, le=MAX_INTERVAL, json_schema_extra=shown_as("MIN")
    )


class AutosyncOnOperation(AutosyncChange):
    """Turn on the backend's periodic model sync (LITELLM_AUTO_SYNC=true); restarts the backend."""

    name = "autosync on"
    args_model = AutosyncOnArgs

    def wanted(self, state: AutoSyncState, args: Any) -> dict[str, str]:
        assert isinstance(args, AutosyncOnArgs)
        values: dict[str, str] = {}
        if not state.enabled:
            values[AUTO_SYNC] = "true"
        if args.interval is not None and state.interval.value != str(args.interval):
            values[INTERVAL] = str(args.interval)
        return values

    def risks(self) -> tuple[str, ...]:
        return (CASCADE_RISK, RESTART_RISK)
