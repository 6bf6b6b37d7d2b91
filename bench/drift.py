"""Drift on 1,000,000 LiteMaaS keys and 1,000,000 LiteLLM tokens with 1% divergence.

    .venv/bin/python bench/drift.py [--keys 1000000] [--divergence 0.01] [--runs 3]

Seeds the same keys (`sandbox.seed_data.bulk_keys`) into one shared database and into two databases,
then measures, in this run and on the same data:
- the seed's single `NOT EXISTS` query (the bastion script's final orphan pass, as a SELECT) on the
  shared database: the reference;
- `drift` (`commands.drift.operation.find_drift`: checks a-f) on the shared database: target <= 1.5x
  the reference;
- `drift` on the two databases: target < 3x the reference, and under 300 MB peak RSS.
Each measurement runs in a fresh process (so `ru_maxrss` is its own peak); the median of `--runs`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import time
import uuid
from typing import Any

import psycopg

from commands.clients.sessions import KeyDatabases
from commands.drift.operation import find_drift
from sandbox.schemas import TemplateDatabases, drop_database
from sandbox.seed_data import bulk_keys

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

SEED_QUERY = """SELECT id, litellm_key_alias FROM api_keys WHERE is_active = true
    AND litellm_key_alias IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM "LiteLLM_VerificationToken" lv
                    WHERE lv.key_alias = api_keys.litellm_key_alias)"""


def measure(kind: str, litemaas_url: str, litellm_url: str, results: Any) -> None:
    """Child process: one measurement → (seconds, detail, peak RSS in MB)."""
    started = time.perf_counter()
    if kind == "seed":
        with psycopg.connect(litemaas_url) as conn:
            detail = f"{len(conn.execute(SEED_QUERY).fetchall()):,} rows"
    else:
        dbs = KeyDatabases(litemaas_url, litellm_url, shared=litemaas_url == litellm_url)
        findings = find_drift(dbs)
        detail = ", ".join(f"{f.kind}={f.count:,}" for f in findings)
    seconds = time.perf_counter() - started
    results.put((seconds, detail, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def median_run(kind: str, litemaas_url: str, litellm_url: str, runs: int) -> tuple[float, str, float]:
    ctx = mp.get_context("spawn")
    outcomes: list[tuple[float, str, float]] = []
    for _ in range(runs):
        results = ctx.Queue()
        worker = ctx.Process(target=measure, args=(kind, litemaas_url, litellm_url, results))
        worker.start()
        outcomes.append(results.get(timeout=1800))
        worker.join(timeout=30)
    seconds = statistics.median(o[0] for o in outcomes)
    return seconds, outcomes[-1][1], max(o[2] for o in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--divergence", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    templates = TemplateDatabases(PG_ADMIN_URL)
    suffix = uuid.uuid4().hex[:8]
    names = {layout: f"bench_drift_{layout}_{suffix}" for layout in ("shared", "litemaas", "litellm")}
    try:
        urls = {layout: templates.clone(layout, name) for layout, name in names.items()}  # type: ignore[arg-type]
        started = time.perf_counter()
        bulk_keys(urls["shared"], urls["shared"], options.keys, divergence=options.divergence, tag="drift")
        bulk_keys(urls["litemaas"], urls["litellm"], options.keys, divergence=options.divergence, tag="drift")
        print(
            f"seeded {options.keys:,} keys per side, {options.divergence:.0%} divergent, twice, "
            f"in {time.perf_counter() - started:.0f} s"
        )

        ref_s, ref_detail, ref_rss = median_run("seed", urls["shared"], urls["shared"], options.runs)
        print(f"seed's NOT EXISTS query (shared): {ref_s:.2f} s ({ref_detail}), peak RSS {ref_rss:.0f} MB")
        shared_s, detail, shared_rss = median_run("drift", urls["shared"], urls["shared"], options.runs)
        ratio = shared_s / ref_s
        print(f"drift, shared database: {shared_s:.2f} s = {ratio:.2f}x, peak RSS {shared_rss:.0f} MB")
        print(f"  findings: {detail}")
        print(f"  target <= 1.5x: {'OK' if shared_s <= 1.5 * ref_s else 'MISSED'}")
        two_s, detail, two_rss = median_run("drift", urls["litemaas"], urls["litellm"], options.runs)
        print(f"drift, two databases: {two_s:.2f} s = {two_s / ref_s:.2f}x, peak RSS {two_rss:.0f} MB")
        print(f"  findings: {detail}")
        print(
            f"  targets < 3x: {'OK' if two_s < 3 * ref_s else 'MISSED'}; "
            f"< 300 MB: {'OK' if max(two_rss, shared_rss) < 300 else 'MISSED'}"
        )
    finally:
        for name in names.values():
            drop_database(PG_ADMIN_URL, name)


if __name__ == "__main__":
    main()
