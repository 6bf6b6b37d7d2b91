"""What counting in the dump's snapshot and proving a backup cost, on LiteMaaS + LiteLLM with N keys.

    .venv/bin/python bench/backup_verify.py [--keys 200000] [--runs 3]

Seeds one shared database (the real schemas, `sandbox.seed_data.bulk_keys`), then measures, in this
run and on the same data (median of `--runs`):
- `pg_dump | gzip` alone (`dump_database` without a snapshot): the reference;
- a backup as `backup now` takes it (snapshot exported, pg_dump with it, census in the same
  snapshot, checksum pass): target <= 1.3x the reference;
- `backup verify` of that backup (checksum, load into a scratch database, census, compare, drop),
  against a bare `gunzip | psql` load into an empty database: target <= 1.3x that load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from commands.backup.dump import dump_database
from commands.backup.load import load_dump
from commands.backup.pgserver import create_database, drop_database
from commands.backup.run import run_backup
from commands.backup.verifying import BackupVerifyArgs, BackupVerifyOperation
from commands.clients.databases import parse_database_url
from commands.contract import Result
from commands.environment import Environment
from sandbox.schemas import TemplateDatabases
from sandbox.schemas import drop_database as drop_template_clone
from sandbox.seed_data import bulk_keys

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def median_seconds(work: Callable[[], None], runs: int) -> float:
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    name = f"bench_backup_{uuid.uuid4().hex[:8]}"
    url = TemplateDatabases(PG_ADMIN_URL).clone("shared", name)
    target = parse_database_url("litemaas", url, "bench")
    work_dir = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    env = Environment(
        name="bench",
        namespace="bench",
        kube=None,  # type: ignore[arg-type]  # the databases are given: Kubernetes is never asked
        litellm_redis_ping=lambda: True,
        litemaas_database_url=url,
        litellm_database_url=url,
        backup_dir=work_dir / "backups",
    )
    try:
        started = time.perf_counter()
        bulk_keys(url, url, options.keys, tag="bench")
        print(f"seeded {options.keys:,} keys per side in {time.perf_counter() - started:.0f} s")

        def plain_dump() -> None:
            directory = Path(tempfile.mkdtemp(dir=work_dir))
            dump_database(target, directory)

        reference = median_seconds(plain_dump, options.runs)
        print(f"pg_dump | gzip alone: {reference:.2f} s (reference)")
        backup = median_seconds(lambda: run_backup(env), options.runs)
        print(f"backup with snapshot + census: {backup:.2f} s = {backup / reference:.2f}x")
        print(f"  target <= 1.3x: {'OK' if backup <= 1.3 * reference else 'MISSED'}")

        dump = next((work_dir / "backups").glob("*/litemaas.sql.gz"))

        def bare_load() -> None:
            scratch = f"bench_load_{uuid.uuid4().hex[:8]}"
            create_database(target, scratch)
            try:
                load_dump(
                    dump, parse_database_url("litemaas", url.rsplit("/", 1)[0] + f"/{scratch}", "bench")
                )
            finally:
                drop_database(target, scratch)

        load = median_seconds(bare_load, options.runs)
        print(f"gunzip | psql into an empty database: {load:.2f} s (reference)")

        def verify() -> None:
            op = BackupVerifyOperation()
            events = list(op.execute(env, BackupVerifyArgs(), op.plan(env, BackupVerifyArgs())))
            result = events[-1]
            assert isinstance(result, Result) and result.ok, result

        verified = median_seconds(verify, options.runs)
        print(f"backup verify: {verified:.2f} s = {verified / load:.2f}x the bare load")
        print(f"  target <= 1.3x: {'OK' if verified <= 1.3 * load else 'MISSED'}")
    finally:
        drop_template_clone(PG_ADMIN_URL, name)


if __name__ == "__main__":
    main()
