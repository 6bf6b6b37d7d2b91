"""The catalogue sync that follows a change in LiteLLM (`models add`, `models remove`).

The LiteMaaS backend owns its catalogue: we ask it to sync (`POST /api/v1/models/sync`, facts §2.2)
rather than writing rows ourselves. A failed sync is not a failed change — LiteLLM already has it and
the backend syncs at every start (and periodically with auto-sync) — so it is reported as a warning
that says exactly that, with the command that finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.clients.backend import BackendError, backend_client
from commands.contract import OperationError
from commands.environment import Environment

FINISH = "run `/maas models sync` (or restart the backend) to bring the catalogue up to date"


@dataclass(frozen=True)
class SyncStep:
    """How the catalogue sync went: `ok`, and one line to show (counts, or what failed and what next)."""

    ok: bool
    line: str


def sync_catalogue(env: Environment, done: str) -> SyncStep:
    """Ask the backend to sync its catalogue; `done` says what already happened in LiteLLM."""
    try:
        client = backend_client(env)
    except OperationError as exc:
        return SyncStep(False, f"{done}, but the catalogue sync could not start ({exc}); {FINISH}")
    try:
        report = client.sync_models()
    except BackendError as exc:
        return SyncStep(False, f"{done}, but the catalogue sync failed ({exc}); {FINISH}")
    finally:
        client.close()
    if not report.success:
        errors = "; ".join(report.errors[:3]) or "no detail"
        return SyncStep(False, f"{done}, but the catalogue sync reported a failure ({errors}); {FINISH}")
    return SyncStep(
        True,
        f"catalogue synced: {report.new_models} new, {report.updated_models} updated, "
        f"{report.unavailable_models} marked unavailable",
    )
