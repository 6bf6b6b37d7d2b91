"""Peers shared by the integration tests: the sandbox Kubernetes API and a client on it, the LiteLLM and
backend sandboxes, a Redis client, a Slack fake with the alert channels, and S3 (moto's server)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
from moto.server import ThreadedMotoServer
from psycopg import sql

from bot.store import Database, OperationStore
from commands.clients.kube import KubeClient
from commands.contract import Progress, Result
from commands.environment import Environment
from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.seed_data import seed_demo
from sandbox.slack import SlackSandbox
from tests.conftest import PG_ADMIN_URL, DatabasePair, SchemaDatabases, database_pair

NAMESPACE = "litellm-rhpds"
SLACK_TOKEN = "xoxb-integration-test"
ALERT_CHANNELS = {"C0ALERTS": "ops-alerts", "C0CRIT": "ops-critical", "C0BACKUP": "ops-backups"}


def redis_ping(url: str, timeout: float = 1.0) -> Callable[[], bool]:
    """A real PING of `url` (what the bot wires into the Environment); False on any Redis error."""

    def ping() -> bool:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    return ping


def make_env(kube: KubeClient, ping: Callable[[], bool], **extra: Any) -> Environment:
    """The operations' Environment on the sandbox namespace, with `ping` as LiteLLM's Redis probe."""
    return Environment(name="test", namespace=NAMESPACE, kube=kube, litellm_redis_ping=ping, **extra)


def only_result(events: Sequence[object]) -> Result:
    """The Result that ends an operation's events, after nothing but Progress."""
    assert events and isinstance(events[-1], Result), events
    assert all(isinstance(e, Progress) for e in events[:-1]), events
    return events[-1]


@pytest.fixture
def sb() -> Iterator[KubeSandbox]:
    """A seeded OpenShift-flavoured sandbox with every rollout settled."""
    sandbox = KubeSandbox(namespace=NAMESPACE, seed=True).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def kube(sb: KubeSandbox, tmp_path: Path) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(sb.write_kubeconfig(tmp_path / "kubeconfig"), NAMESPACE)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def litellm() -> Iterator[LiteLLMSandbox]:
    server = LiteLLMSandbox().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend() -> Iterator[BackendSandbox]:
    server = BackendSandbox().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rds(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def alert_slack() -> Iterator[SlackSandbox]:
    """The Slack fake with the channels the alert tests route to."""
    server = SlackSandbox(bot_token=SLACK_TOKEN, channels=ALERT_CHANNELS).start()
    yield server
    server.stop()


# -- S3: a real moto server on loopback, reached by boto3 through the standard AWS variables ---------

SECRET_KEY = f"secret-{uuid.uuid4().hex}"  # moto accepts any key; it must never show up in a result


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The AWS environment of the bot's process, pointing boto3 at moto; returns the endpoint."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTBACKUPS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def s3(aws: str) -> Any:
    """A client of our own on moto, to look at the bucket independently of the code under test."""
    return boto3.session.Session().client("s3", endpoint_url=aws)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"backups-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


# -- seeded LiteMaaS and LiteLLM databases for the backup tests (verify, restore) ----------------------


@pytest.fixture(params=["shared", "separate"])
def seeded(request: pytest.FixtureRequest, schema_databases: SchemaDatabases) -> Iterator[DatabasePair]:
    """The demo data in one shared database or in two; every database named after them is dropped after."""
    with database_pair(schema_databases, request.param) as pair:
        seed_demo(pair.litemaas_url, pair.litellm_url)
        try:
            yield pair
        finally:
            for url in {pair.litemaas_url, pair.litellm_url}:
                drop_named_after(dbname_of(url))


def dbname_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def drop_named_after(name: str) -> None:
    """Drop the databases a restore or a failed one may leave next to `name` (uuid-named: only ours)."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for (other,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (name.replace("_", "\\_") + "\\_%",)
        ).fetchall():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(other)))


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    """The bot's own database, migrated, in a fresh PostgreSQL database (pool large enough for races)."""
    database = Database(pg_url, max_size=12)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> OperationStore:
    return OperationStore(db)
