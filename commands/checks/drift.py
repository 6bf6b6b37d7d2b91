"""The "drift" check: LiteMaaS and LiteLLM disagreeing (product.md §5) more than a threshold allows.

Thresholds are keyed by the drift report's kinds ("a", "b", "c1", "c2", "d", "e", "f"); "c" covers
both halves of c, and "default" every kind not named. A kind alerts when its count is above its
threshold. `THRESHOLD_KEYS` is what the automation file may name.
"""

from __future__ import annotations

from collections.abc import Mapping

from commands.checks.finding import Check, Finding
from commands.clients.sessions import key_databases
from commands.contract import FollowUp
from commands.drift.findings import KINDS
from commands.drift.findings import Finding as DriftFinding
from commands.drift.operation import find_drift
from commands.drift.report import SAMPLE_SIZE
from commands.environment import Environment

REPORT = FollowUp("Drift report", "drift")
FIXES: dict[str, FollowUp] = {
    "a": FollowUp("Fix", "keys orphans --fix"),  # mark the LiteMaaS rows whose key LiteLLM lost
    "c1": FollowUp("Fix", "models sync"),  # the backend's sync adds LiteLLM's models to the catalogue
    "c2": FollowUp("Fix", "models sync"),  # … marks those gone from LiteLLM unavailable
    "d": FollowUp("Fix", "models sync"),  # … and rewrites litellm_model_id
    "f": FollowUp("Fix", "drift block-inactive"),  # block in LiteLLM the keys LiteMaaS deactivated
}
THRESHOLD_KEYS = (*KINDS, "c", "default")


def threshold_of(thresholds: Mapping[str, int], kind: str) -> int:
    """The kind's own threshold, else its letter's ("c" for "c1"), else "default", else 0."""
    for key in (kind, kind[:1], "default"):
        if key in thresholds:
            return thresholds[key]
    return 0


def drift_finding(finding: DriftFinding, threshold: int) -> Finding:
    """A warning for one drift kind over its threshold: count, a sample, the fix when there is one."""
    sample = tuple(f"{item} — {detail}" if detail else item for item, detail in finding.items[:SAMPLE_SIZE])
    more = finding.count - len(sample)
    details = (*sample, *((f"… and {more:,} more (the drift report lists them all)",) if more > 0 else ()))
    fix = FIXES.get(finding.kind)
    return Finding(
        key=f"drift/{finding.kind}",
        severity="warning",
        component="drift",
        title=f"Drift ({finding.kind}): {finding.title}: {finding.count:,} (threshold {threshold:,})",
        details=details,
        actions=(fix, REPORT) if fix is not None else (REPORT,),
    )


def validate_thresholds(thresholds: Mapping[str, int]) -> None:
    """ValueError naming the first unknown kind or negative threshold (the automation file's check)."""
    unknown = sorted(set(thresholds) - set(THRESHOLD_KEYS))
    if unknown:
        raise ValueError(f"unknown drift kind {unknown[0]!r}; known: {', '.join(THRESHOLD_KEYS)}")
    negative = sorted(k for k, v in thresholds.items() if v < 0)
    if negative:
        raise ValueError(f"drift threshold {negative[0]!r} must be 0 or more")


def drift_check(thresholds: Mapping[str, int]) -> Check:
    """A check that runs the drift comparison and reports each kind whose count exceeds its threshold."""
    validate_thresholds(thresholds)
    limits = dict(thresholds)

    def check(env: Environment) -> list[Finding]:
        findings = find_drift(key_databases(env))  # OperationError when a database cannot be read
        return [
            drift_finding(f, threshold_of(limits, f.kind))
            for f in findings
            if f.count > threshold_of(limits, f.kind)
        ]

    return check
