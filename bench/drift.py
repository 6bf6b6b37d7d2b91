"""Drift on 1,000,000 LiteMaaS keys and 1,000,000 LiteLLM tokens with 1% divergence.

    .venv/bin/python bench/drift.py [--keys 1000000] [--divergence 0.01] [--runs 3]

Seeds the same keys (`sandbox.seed_data.bulk_keys`) into one shared database and into two databases,
then `VACUUM ANALYZE`s and `CHECKPOINT`s them (so that no measurement pays for the load: hint bits,
the visibility map, dirty buffers), and measures, in this run and on the same data, interleaved
(reference, shared, two databases, reference, …; medians of `--runs`):
- the seed's single `NOT EXISTS` query (the bastion script's final orphan pass, as a SELECT) on the
  shared database: the reference;
- `drift` (`commands.drift.operation.find_drift`: checks a-f) on the shared database: target <= 1.5x
  the reference;
- `drift` on the two databases: target <= 2.5x the reference (issue 17), and under 300 MB peak RSS.
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


def one_run(kind: str, litemaas_url: str, litellm_url: str) -> tuple[float, str, float]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    worker = ctx.Process(target=measure, args=(kind, litemaas_url, litellm_url, results))
    worker.start()
    outcome: tuple[float, str, float] = results.get(timeout=1800)
    worker.join(timeout=30)
    return outcome


def settle(urls: dict[str, str]) -> None:
    """What a database that has been in use looks like: vacuumed, analyzed, checkpointed."""
    for url in urls.values():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


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

        started = time.perf_counter()
        settle(urls)
        print(f"VACUUM ANALYZE + CHECKPOINT in {time.perf_counter() - started:.0f} s")

        cases = {
            "seed": (urls["shared"], urls["shared"]),
            "shared": (urls["shared"], urls["shared"]),
            "two": (urls["litemaas"], urls["litellm"]),
        }
        outcomes: dict[str, list[tuple[float, str, float]]] = {case: [] for case in cases}
        for run in range(options.runs):
            for case, (litemaas, litellm) in cases.items():
                outcomes[case].append(one_run("seed" if case == "seed" else "drift", litemaas, litellm))
            print(f"  run {run + 1}: " + ", ".join(f"{c} {o[-1][0]:.2f} s" for c, o in outcomes.items()))
        seconds = {case: statistics.median(o[0] for o in runs) for case, runs in outcomes.items()}
        rss = {case: max(o[2] for o in runs) for case, runs in outcomes.items()}
        ref_s = seconds["seed"]
        print(
            f"seed's NOT EXISTS query (shared): {ref_s:.2f} s ({outcomes['seed'][-1][1]}), "
            f"peak RSS {rss['seed']:.0f} MB"
        )
        ratio = seconds["shared"] / ref_s
        shared = f"drift, shared database: {seconds['shared']:.2f} s = {ratio:.2f}x"
        print(f"{shared}, peak RSS {rss['shared']:.0f} MB")
        print(f"  findings: {outcomes['shared'][-1][1]}")
        print(f"  target <= 1.5x: {'OK' if ratio <= 1.5 else 'MISSED'}")
        ratio = seconds["two"] / ref_s
        print(f"drift, two databases: {seconds['two']:.2f} s = {ratio:.2f}x, peak RSS {rss['two']:.0f} MB")
        print(f"  findings: {outcomes['two'][-1][1]}")
        print(
            f"  targets <= 2.5x: {'OK' if ratio <= 2.5 else 'MISSED'}; "
            f"< 300 MB: {'OK' if max(rss['two'], rss['shared']) < 300 else 'MISSED'}"
        )
    finally:
        for name in names.values():
            drop_database(PG_ADMIN_URL, name)


if __name__ == "__main__":
    main()
