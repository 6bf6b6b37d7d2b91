"""Findings → the drift Result: a section per kind (count + up to 5 items), the full lists as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from commands.contract import Result, ResultFile, Section
from commands.drift.findings import Finding

SAMPLE_SIZE = 5


def drift_csv(findings: Sequence[Finding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["kind", "divergence", "item", "detail"])
    for f in findings:
        for item, detail in f.items:
            writer.writerow([f.kind, f.title, item, detail])
    return out.getvalue()


def drift_result(findings: Sequence[Finding], layout: str, seconds: float) -> Result:
    diverging = [f for f in findings if f.count]
    sections = tuple(
        Section(
            title=f"({f.kind}) {f.title}",
            fields={"count": f"{f.count:,}"},
            lines=tuple(f"{item} — {detail}" if detail else item for item, detail in f.items[:SAMPLE_SIZE]),
        )
        for f in findings
    )
    if not diverging:
        return Result(
            ok=True,
            summary=f"No drift: LiteMaaS and LiteLLM agree on keys and models ({layout}, {seconds:.1f} s)",
            sections=sections,
        )
    listed = ", ".join(f"{f.count:,} {f.kind}" for f in diverging)
    warnings = tuple(
        f"({f.kind}) the file lists the first {len(f.items):,} of {f.count:,}"
        for f in diverging
        if len(f.items) < f.count
    )
    return Result(
        ok=True,
        summary=f"Drift found in {len(diverging)} of {len(findings)} checks ({listed}; {layout}, "
        f"{seconds:.1f} s); full lists attached",
        sections=sections,
        warnings=warnings,
        files=(ResultFile("drift.csv", "Drift between LiteMaaS and LiteLLM", drift_csv(diverging)),),
    )
