"""Shared fixtures: a fresh PostgreSQL database and a private Redis key prefix per test.

PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379) are real local servers;
`.ci/run` starts them when they are down. Nothing here mocks them. The hooks record what the whole
run sends to the sandboxes (tests/suite_record.py) and run the `suite_wide` checks last.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis

from tests.suite_record import (
    SUITE_RECORD,
    SUITE_WIDE_HELP,
    SuiteRecord,
    count_deselected,
    end_of_collection,
    mark_test_start,
)

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _database_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    name = f"chatops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix private to this test; its keys are deleted afterwards."""
    prefix = f"chatops-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


# --- What the whole run sends to the sandboxes (tests/suite_record.py; checked by tests/deploy) ------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SUITE_WIDE_HELP)
    config.stash[SUITE_RECORD] = SuiteRecord.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if SUITE_RECORD in config.stash:
        config.stash[SUITE_RECORD].finish()


def pytest_deselected(items: list[pytest.Item]) -> None:
    count_deselected(items)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    end_of_collection(config, items)


def pytest_runtest_logstart(nodeid: str) -> None:
    mark_test_start(nodeid)


DEAD_URL_PORT = 1  # nothing listens on port 1: "the server is down" without stopping the shared one


# --- Real LiteMaaS and LiteLLM schemas (issue 4) ------------------------------------------------------
# Each schema is built once per machine into a template database (sandbox.schemas.TemplateDatabases;
# ~25 s the very first time, then reused), and each test gets fresh clones (~0.1-0.6 s each, more on a
# busy machine), dropped after the test.

from dataclasses import dataclass  # noqa: E402

from sandbox.schemas import Layout, TemplateDatabases, drop_database  # noqa: E402


@dataclass(frozen=True)
class DatabasePair:
    """Where the LiteMaaS and LiteLLM tables of one test live; `shared` = one database holds both."""

    litemaas_url: str
    litellm_url: str
    shared: bool


class SchemaDatabases:
    """Fresh databases cloned from the templates (built on first use), dropped when a test is done."""

    def __init__(self) -> None:
        self.templates = TemplateDatabases(PG_ADMIN_URL)

    def create(self, layout: Layout) -> tuple[str, str]:
        name = f"chatops_{layout}_{uuid.uuid4().hex[:12]}"
        return name, self.templates.clone(layout, name)

    def drop(self, names: list[str]) -> None:
        for name in names:
            drop_database(PG_ADMIN_URL, name)


@pytest.fixture(scope="session")
def schema_databases() -> SchemaDatabases:
    return SchemaDatabases()


@pytest.fixture
def litemaas_db(schema_databases: SchemaDatabases) -> Iterator[str]:
    """URL of a fresh database with the LiteMaaS schema only (system user and Default Team seeded)."""
    name, url = schema_databases.create("litemaas")
    try:
        yield url
    finally:
        schema_databases.drop([name])


@pytest.fixture
def litellm_db(schema_databases: SchemaDatabases) -> Iterator[str]:
    """URL of a fresh database with LiteLLM's schema only (all litellm-proxy-extras migrations)."""
    name, url = schema_databases.create("litellm")
    try:
        yield url
    finally:
        schema_databases.drop([name])


@pytest.fixture(params=["shared", "separate"])
def litemaas_litellm_dbs(
    request: pytest.FixtureRequest, schema_databases: SchemaDatabases
) -> Iterator[DatabasePair]:
    """Both schemas, in one shared database or in two databases (the test runs once per layout)."""
    with database_pair(schema_databases, request.param) as pair:
        yield pair


@contextmanager
def database_pair(schema_databases: SchemaDatabases, layout: str) -> Iterator[DatabasePair]:
    """Fresh LiteMaaS and LiteLLM databases in the `shared` or `separate` layout, dropped afterwards."""
    names: list[str] = []
    try:
        if layout == "shared":
            name, url = schema_databases.create("shared")
            names.append(name)
            yield DatabasePair(litemaas_url=url, litellm_url=url, shared=True)
        else:
            name, litemaas_url = schema_databases.create("litemaas")
            names.append(name)
            name, litellm_url = schema_databases.create("litellm")
            names.append(name)
            yield DatabasePair(litemaas_url=litemaas_url, litellm_url=litellm_url, shared=False)
    finally:
        schema_databases.drop(names)


SECRET_IN_LOG = re.compile(
    r"sk-[A-Za-z0-9_-]{6,}|ltm_admin_\w+|xox[abpr]-[A-Za-z0-9-]{6,}|://[^/\s:@]+:[^/\s@]+@"
)


class _SecretSniffer(logging.Handler):
    """Collects every record of our own loggers whose message carries something secret-shaped."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call is not ours to judge here
            return
        if SECRET_IN_LOG.search(message) or (record.exc_text and SECRET_IN_LOG.search(record.exc_text)):
            self.leaks.append(f"{record.name}: {message[:60]}…")


@pytest.fixture(autouse=True)
def no_secrets_in_our_logs() -> Iterator[None]:
    """Whatever a test does, the bot's and the operations' own log records never carry a secret."""
    sniffer = _SecretSniffer()
    loggers = [logging.getLogger(name) for name in ("bot", "commands")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(sniffer)
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(sniffer)
        lg.setLevel(level)
    assert not sniffer.leaks, f"secret-shaped values in log records: {sniffer.leaks}"
