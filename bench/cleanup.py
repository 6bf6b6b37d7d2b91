"""Key cleanup: 100,000 expired keys against the sandbox LiteLLM with 20 ms latency per request.

    .venv/bin/python bench/cleanup.py [--keys 100000] [--runs 2] [--baseline-keys 5000] [--latency 0.02]

1. Ours: `commands.keys.cleanup.run_cleanup` (batched `POST /key/delete`, one UPDATE per batch, orphan
   pass) on `--keys` expired keys present in both stores: total time and peak RSS of the process that
   runs it. Targets (issue 4): under 120 s, under 200 MB.
   Against it, in the same run and alternating with it (`--runs` each, medians): the bare batched
   deletes (`bare_deletes` below: the same keyset pages of the same batch size, the same
   `POST /key/delete`, one batch at a time as ours, and nothing else: no UPDATE, no re-check, no
   orphan pass), on an identical seed. Target (issue 17): ours <= 1.3x the bare deletes.
   Before each run of ours, the plan of its per-batch UPDATE on those 100k rows is printed; it must
   not read `api_keys` with a Seq Scan.
2. The seed's algorithm (`seed_cleanup` below: page `/key/list` by 100, then one `/key/delete` per key and
   one UPDATE per key, sequentially) and ours on the same `--baseline-keys` keys, seeded identically
   into two fresh databases in this run. Target: ours at least 30x faster.
The LiteLLM sandbox runs in its own process (its memory is not counted); each measured run too, so
`ru_maxrss` is the peak of that run alone. Real PostgreSQL (shared layout), real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import resource
import statistics
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg

from commands.clients.litellm import LiteLLMClient
from commands.clients.sessions import KeyDatabases
from commands.keys.batches import MARK_SQL
from commands.keys.cleanup import BATCH_SIZE, run_cleanup
from commands.keys.selection import candidate_page, selection_now
from sandbox.litellm import LiteLLMSandbox
from sandbox.schemas import TemplateDatabases, drop_database
from sandbox.seed_data import bulk_keys

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MASTER_KEY = "sk-bench-master-key-0000"


def serve_litellm(database_url: str, latency: float, urls: Any, stop: Any) -> None:
    """Child process: the sandbox LiteLLM on `database_url`, until `stop` is set."""
    sandbox = LiteLLMSandbox(master_key=MASTER_KEY, database_url=database_url).start()
    sandbox.set_latency(latency)
    urls.put(sandbox.url)
    stop.wait()
    sandbox.stop()


def seed_cleanup(litemaas_url: str, client: LiteLLMClient) -> int:
    """The seed's bastion script (litemaas-facts §4.3 B), minus jq: list all, delete and UPDATE one by one."""
    selected: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = client.list_keys(page=page, size=100)
        selected += [k for k in batch.keys if k.get("expires")]  # all bench keys are expired
        if page >= batch.total_pages:
            break
        page += 1
    deleted = 0
    with psycopg.connect(litemaas_url, autocommit=True) as conn:
        for key in selected:
            if client.delete_keys(keys=[key["token"]]):
                deleted += 1
                conn.execute(
                    "UPDATE api_keys SET is_active=false, revoked_at=NOW(), sync_status='error',"
                    " sync_error='Key deleted by cleanup cron', updated_at=NOW()"
                    " WHERE litellm_key_alias=%s AND is_active=true",
                    (key["key_alias"],),
                )
    return deleted


def bare_deletes(database_url: str, client: LiteLLMClient, older_than: timedelta) -> int:
    """The floor of any batched cleanup: read the selected keys page by page (the same keyset query and
    batch size as ours) and `POST /key/delete` each page, one at a time; nothing else."""
    deleted = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        selection = selection_now(conn, older_than)
        after = ""
        while page := candidate_page(conn, selection, after, BATCH_SIZE):
            after = page[-1].token
            deleted += len(client.delete_keys(keys=[c.token for c in page]))
    return deleted


def measured(kind: str, database_url: str, litellm_url: str, results: Any) -> None:
    """Child process: one run, reporting (seconds, keys deleted, peak RSS in MB)."""
    client = LiteLLMClient(litellm_url, MASTER_KEY, timeout=60.0)
    started = time.perf_counter()
    if kind == "seed":
        deleted = seed_cleanup(database_url, client)
    elif kind == "bare":
        deleted = bare_deletes(database_url, client, timedelta(days=30))
    else:
        dbs = KeyDatabases(litemaas_url=database_url, litellm_url=database_url, shared=True)
        steps = run_cleanup(dbs, client, timedelta(days=30))
        while True:
            try:
                next(steps)
            except StopIteration as done:
                report = done.value
                break
        deleted = report.deleted + report.proven_absent
        if report.failed or report.stopped:
            print(f"  ({kind}: {report.failed} failures, stopped: {report.stopped})", file=sys.stderr)
    seconds = time.perf_counter() - started
    client.close()
    results.put((seconds, deleted, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def one_run(
    kind: str, keys: int, latency: float, templates: TemplateDatabases, tag: str
) -> tuple[float, int, float]:
    name = f"bench_cleanup_{uuid.uuid4().hex[:10]}"
    url = templates.clone("shared", name)
    ctx = mp.get_context("spawn")
    stop, urls, results = ctx.Event(), ctx.Queue(), ctx.Queue()
    server = ctx.Process(target=serve_litellm, args=(url, latency, urls, stop), daemon=True)
    try:
        seeded = bulk_keys(url, url, keys, divergence=0.0, expired_fraction=1.0, tag=tag)
        assert seeded.expired == keys, seeded
        if kind == "ours" and keys >= 10_000:
            show_mark_plan(url, keys)
        server.start()
        litellm_url = urls.get(timeout=30)
        worker = ctx.Process(target=measured, args=(kind, url, litellm_url, results))
        worker.start()
        outcome: tuple[float, int, float] = results.get(timeout=3600)
        worker.join(timeout=30)
        return outcome
    finally:
        stop.set()
        server.join(timeout=30)
        drop_database(PG_ADMIN_URL, name)


def show_mark_plan(url: str, keys: int) -> None:
    """EXPLAIN of ours' per-batch UPDATE for one batch of the seeded keys (it must use the indexes)."""
    with psycopg.connect(url, autocommit=True) as conn:
        tokens, aliases = zip(
            *conn.execute(
                'SELECT token, key_alias FROM "LiteLLM_VerificationToken" ORDER BY token LIMIT %s',
                (BATCH_SIZE,),
            ).fetchall(),
            strict=True,
        )
        params = {"reason": "bench", "tokens": list(tokens), "aliases": [a for a in aliases if a]}
        explain = b"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + MARK_SQL.encode()
        with conn.transaction(force_rollback=True):  # the plan as run, without marking anything
            plan = [re.sub(r"'\{[^}]*\}'", "'{…}'", row[0]) for row in conn.execute(explain, params)]
    seq_scan = any("Seq Scan on api_keys" in line for line in plan)
    print(f"  plan of ours' per-batch UPDATE on {keys:,} rows (Seq Scan on api_keys: {seq_scan}):")
    for line in plan:
        print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2, help="runs of ours and of the bare, alternating")
    parser.add_argument("--baseline-keys", type=int, default=5_000, help="0: skip the seed's algorithm")
    parser.add_argument("--latency", type=float, default=0.02)
    options = parser.parse_args()
    templates = TemplateDatabases(PG_ADMIN_URL)
    templates.ensure("shared")
    print(f"latency per request: {options.latency * 1000:.0f} ms, batch size {BATCH_SIZE}")

    runs: dict[str, list[tuple[float, int, float]]] = {"bare": [], "ours": []}
    for _ in range(options.runs):
        for kind in runs:  # alternating: a passing disturbance of the machine hits both
            runs[kind].append(one_run(kind, options.keys, options.latency, templates, "big"))
            seconds, deleted, rss = runs[kind][-1]
            print(f"  {kind}: {seconds:.1f} s, {deleted:,} deleted, peak RSS {rss:.0f} MB")
    bare_s = statistics.median(r[0] for r in runs["bare"])
    seconds = statistics.median(r[0] for r in runs["ours"])
    rss = max(r[2] for r in runs["ours"])
    print(f"bare batched deletes, {options.keys:,} expired keys: {bare_s:.1f} s (median of {options.runs})")
    print(f"ours, {options.keys:,} expired keys: {seconds:.1f} s (median), peak RSS {rss:.0f} MB")
    ratio = seconds / bare_s
    print(f"  ours / bare deletes: {ratio:.2f}x; target <= 1.3x {'OK' if ratio <= 1.3 else 'MISSED'}")
    verdict = f"< 120 s {'OK' if seconds < 120 else 'MISSED'}, < 200 MB {'OK' if rss < 200 else 'MISSED'}"
    print(f"  targets: {verdict}")

    n = options.baseline_keys
    if not n:
        return
    seed_s, seed_deleted, seed_rss = one_run("seed", n, options.latency, templates, "same")
    ours_s, ours_deleted, ours_rss = one_run("ours", n, options.latency, templates, "same")
    ratio = seed_s / ours_s if ours_s else float("inf")
    print(
        f"seed's algorithm, {n:,} keys: {seed_s:.1f} s ({seed_deleted:,} deleted, peak RSS {seed_rss:.0f} MB)"
    )
    print(f"ours, the same {n:,} keys: {ours_s:.2f} s ({ours_deleted:,} deleted, RSS {ours_rss:.0f} MB)")
    print(f"  ratio: {ratio:.0f}x faster; target >= 30x {'OK' if ratio >= 30 else 'MISSED'}")


if __name__ == "__main__":
    main()
