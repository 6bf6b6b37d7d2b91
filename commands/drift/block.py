"""`drift block-inactive`: block in LiteLLM the keys LiteMaaS has deactivated but LiteLLM still serves.

Drift (f): 0.4.0's model-sync cascade sets `is_active = false` in LiteMaaS and never tells LiteLLM, so
those keys keep working (litemaas-facts §9). The fix is `POST /key/block` per key, by token: reversible
(`/key/unblock`), unlike a deletion, and it touches no LiteMaaS row. The plan counts the keys and
fingerprints the set (approval is refused if it changed); the run reads the set again, blocks what is
still (f) then, at most `LIST_LIMIT` keys a run (it says when to run again), a few keys at a time, and
stops after `MAX_FAILURES_IN_A_ROW` failures in a row (LiteLLM down). A key LiteLLM no longer has is
counted as gone, not as a failure. Tokens are hashes, never keys; only their first characters are shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from commands.clients.litellm import LiteLLMClient, LiteLLMError, litellm_client
from commands.clients.sessions import KeyDatabases, key_databases, litellm_session, litemaas_session
from commands.contract import Args, Change, Event, Operation, OperationError, Plan, Progress, Result, Section
from commands.drift.findings import Finding
from commands.drift.keys import key_drift
from commands.environment import Environment
from commands.targets import KEYSTORE

WORKERS = 4
BATCH = 100  # keys per progress step
MAX_FAILURES_IN_A_ROW = 20
SAMPLE_SIZE = 5
REASONS_SHOWN = 5


class BlockInactiveArgs(Args):
    """`drift block-inactive`."""


def inactive_usable(dbs: KeyDatabases) -> Finding:
    """Drift (f) as it is now: count, items and the tokens (`refs`, the first `LIST_LIMIT`)."""
    with (
        litemaas_session(dbs, "block-inactive") as litemaas,
        litellm_session(dbs, "block-inactive") as litellm,
    ):
        _, _, found = litemaas.run(lambda lm: litellm.run(lambda ll: key_drift(lm, ll, dbs)))
    return found


@dataclass
class BlockReport:
    blocked: int = 0
    gone: int = 0  # LiteLLM no longer has the key: nothing left to block
    failed: int = 0
    reasons: list[str] = field(default_factory=list)
    stopped: str | None = None


def block_all(client: LiteLLMClient, tokens: list[str]) -> Iterator[Progress | BlockReport]:
    """Block `tokens`, yielding Progress per batch, then the BlockReport."""
    report = BlockReport()
    in_a_row = 0

    def one(token: str) -> tuple[str, str]:
        """(token, 'blocked' | 'gone' | 'error: …')."""
        try:
            return token, "blocked" if client.block_key(token) else "gone"
        except LiteLLMError as exc:
            return token, f"error: {exc.message[:150]}"

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for start in range(0, len(tokens), BATCH):
            for token, outcome in pool.map(one, tokens[start : start + BATCH]):
                if outcome == "blocked":
                    report.blocked += 1
                elif outcome == "gone":
                    report.gone += 1
                else:
                    report.failed += 1
                    if len(report.reasons) < REASONS_SHOWN:
                        report.reasons.append(f"token {token[:8]}…: {outcome}")
                in_a_row = in_a_row + 1 if outcome not in ("blocked", "gone") else 0
            done = min(start + BATCH, len(tokens))
            yield Progress(f"{done:,} / {len(tokens):,} keys", done=done, total=len(tokens))
            if in_a_row >= MAX_FAILURES_IN_A_ROW:
                report.stopped = f"LiteLLM failed {in_a_row} keys in a row"
                break
    yield report


def _fingerprint(found: Finding) -> str:
    return hashlib.sha256("\n".join(sorted(found.refs)).encode()).hexdigest()[:16]


class DriftBlockInactiveOperation(Operation[BlockInactiveArgs]):
    """Block in LiteLLM the keys that are inactive in LiteMaaS but still work there (drift f)."""

    name = "drift block-inactive"
    args_model = BlockInactiveArgs
    mutating = True
    default_role = "operator"
    default_approval = True

    def plan(self, env: Environment, args: BlockInactiveArgs) -> Plan:
        """The keys (count, a sample) and a fingerprint of the set; a no-op when there are none."""
        found = inactive_usable(key_databases(env))
        count = found.count
        changes = [Change("LiteLLM keys", "inactive in LiteMaaS, usable in LiteLLM", f"{count:,}", "blocked")]
        changes += [
            Change(f"key/{item}", "LiteLLM", detail, "blocked") for item, detail in found.items[:SAMPLE_SIZE]
        ]
        risks = (
            (
                f"{count:,} keys stop working in LiteLLM at once; LiteMaaS already shows them inactive. "
                "Reversible: POST /key/unblock per key",
            )
            if count
            else ()
        )
        return Plan(
            summary=f"Block {count:,} LiteLLM keys that LiteMaaS has deactivated (POST /key/block)",
            target=KEYSTORE,
            changes=tuple(changes),
            risks=risks,
            noop=count == 0,
            observed={"count": count, "keys": _fingerprint(found)},
        )

    def execute(self, env: Environment, args: BlockInactiveArgs, plan: Plan | None) -> Iterator[Event]:
        """Read the set again, block it, report blocked / already gone / failed."""
        try:
            found = inactive_usable(key_databases(env))
            client = litellm_client(env)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Blocking the inactive keys cannot start: {exc}")
            return
        yield Progress(f"Blocking {len(found.refs):,} keys in LiteLLM", done=0, total=len(found.refs))
        report = BlockReport()
        try:
            for event in block_all(client, found.refs):
                if isinstance(event, BlockReport):
                    report = event
                else:
                    yield event
        finally:
            client.close()
        yield _result(found, report)


def _result(found: Finding, report: BlockReport) -> Result:
    fields = {
        "inactive in LiteMaaS, usable in LiteLLM": f"{found.count:,}",
        "blocked": f"{report.blocked:,}",
        "already gone from LiteLLM": f"{report.gone:,}",
        "failed": f"{report.failed:,}",
    }
    warnings = [f"Stopped early: {report.stopped}"] if report.stopped else []
    if found.count > len(found.refs):
        warnings.append(f"{found.count - len(found.refs):,} more keys: run `drift block-inactive` again")
    if report.failed or report.stopped:
        warnings.append("Run `drift block-inactive` again to finish: blocked keys are not (f) any more")
    summary = f"Blocked {report.blocked:,} of {found.count:,} keys that LiteMaaS had deactivated"
    if report.failed:
        summary += f"; {report.failed:,} failed"
    return Result(
        ok=not report.failed and report.stopped is None,
        summary=summary,
        sections=(
            Section(title="Block inactive keys (drift f)", fields=fields),
            *((Section(title="First failures", lines=tuple(report.reasons)),) if report.reasons else ()),
        ),
        warnings=tuple(warnings),
    )
