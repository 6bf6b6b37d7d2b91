"""Assembles a running bot from `Settings`: stores, clients, the command service, the Bolt app.

Start-up tolerates PostgreSQL, Redis, Kubernetes and Slack being down: the bot then answers what it
can (help) and refuses changes with the reason; `/readyz` names what is missing.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.access import AccessControl, GroupDirectory, load_access_config
from bot.alerts.alertmanager import AlertmanagerReceiver
from bot.alerts.am_silences import AlertmanagerSilences
from bot.alerts.desk import AlertDesk
from bot.alerts.holding import Holds
from bot.alerts.pipeline import AlertPipeline
from bot.alerts.watching import Watchers, build_watches
from bot.app import build_app
from bot.automation import AutomationConfig, load_automation
from bot.bot_state import BotStateView
from bot.dedupe import Deduper
from bot.environment_build import build_environments, environment_secrets
from bot.environments import EnvironmentSet, environment_names
from bot.http import BotWsgiApp, HttpServer
from bot.leader import LeaderElection
from bot.locks import LocksUnavailable, TargetLocks, redis_client
from bot.messenger import Messenger
from bot.metrics import BotMetrics
from bot.permissions import Permissions
from bot.redaction import Redactor, install_log_redaction
from bot.runner import JobRunner
from bot.schedule_book import Schedules
from bot.scheduler import ScheduledRun, Scheduler, SchedulerGroup
from bot.service import CommandService, build_service
from bot.settings import Settings
from bot.stash import ArgumentStash
from bot.store import AuditLog, Database, OperationStore, StoreUnavailable
from bot.store.schedules import ScheduleStore
from bot.store.silences import SilenceStore
from bot.text_safety import register_secrets
from commands.clients.kube import KubeClient
from commands.environment import Environment
from commands.registry import default_registry

log = logging.getLogger(__name__)


@dataclass
class Bot:
    """A running bot: everything `serve`, the demo and the end-to-end tests need."""

    settings: Settings
    redactor: Redactor
    db: Database
    redis: redis.Redis
    service: CommandService
    app: App
    runner: JobRunner
    kube: KubeClient
    env: Environment  # the first (without an environments file: the only) environment
    environments: EnvironmentSet  # every environment served; their HTTP clients are closed with the bot
    automation: AutomationConfig
    alerts: AlertPipeline
    scheduler: Scheduler | SchedulerGroup
    watchers: Watchers
    leader: LeaderElection | None = None
    metrics: BotMetrics = field(default_factory=BotMetrics)
    _stop: threading.Event = field(default_factory=threading.Event)
    _reaper: threading.Thread | None = None

    def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            self.db.ping()
            checks["postgresql"] = "ok"
        except StoreUnavailable as exc:
            checks["postgresql"] = str(exc)
        try:
            self.service.locks.ping()
            checks["redis"] = "ok"
        except LocksUnavailable as exc:
            checks["redis"] = str(exc)
        return checks

    def http_server(self, host: str = "127.0.0.1", port: int = 0) -> HttpServer:
        token = self.settings.alertmanager_token
        receiver = AlertmanagerReceiver(token.get_secret_value() if token else None, self.alerts)
        wsgi = BotWsgiApp(
            self.app,
            self.readiness,
            receiver,
            metrics=self.metrics.exposition,
            signing_secret=self.settings.slack_signing_secret.get_secret_value(),
        )
        return HttpServer(wsgi, host, port)

    def start_reaper(self, interval: float = 15.0) -> None:
        """Every `interval` seconds (and once now): close expired approval requests, and mark operations
        a stopped or crashed replica left unfinished as interrupted."""

        def loop() -> None:
            while True:
                try:
                    self.service.recovery.recover_interrupted()
                    self.service.approvals.expire_due()
                except Exception as exc:  # a reaper pass must never kill the reaper
                    log.warning("reaper pass failed: %s", self.redactor.redact(str(exc)))
                if self._stop.wait(interval):
                    return

        self._reaper = threading.Thread(target=loop, name="reaper", daemon=True)
        self._reaper.start()

    def start_automation(self) -> None:
        """Elect a leader among the replicas; only the leader runs the watchers and the schedules."""
        if not self.automation.active and not self.scheduler.names:
            log.info("no automation configured (AUTOMATION_CONFIG): no watchers, no schedules")
            return
        self.leader = LeaderElection(
            self.kube,
            name=self.settings.leader_lease_name,
            identity=self.settings.pod_name,
            lease_seconds=self.settings.leader_lease_seconds,
            on_started_leading=self._lead,
            on_stopped_leading=self._follow,
        )
        self.leader.start()

    def _lead(self) -> None:
        log.info("leading: starting watchers and schedules")
        if self.automation.active:
            self.watchers.start()
        self.scheduler.start()

    def _follow(self) -> None:
        if self.watchers.running or self.scheduler.running:
            log.info("not leading: stopping watchers and schedules")
        self.watchers.stop()
        self.scheduler.stop()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no interaction and no operation is in progress (tests, benchmarks, shutdown)."""
        return self.service.intake.pool.wait_idle(timeout) and self.runner.wait_idle(timeout)

    def close(self, grace: float = 20.0) -> None:
        """Stop within `grace` seconds, in this order: no new run starts (queued ones are dropped);
        running operations stop before their next step, each recording itself interrupted (row, audit,
        its Slack message) and only then freeing its locks; after the grace, what is left is marked
        interrupted and keeps its locks (a worker still running may still patch: the TTL frees them)."""
        deadline = time.monotonic() + grace

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        self._stop.set()
        self.service.recovery.inflight.stopping.set()  # every run stops at its next checkpoint
        self.runner.stop_accepting()
        if self.leader is not None:
            self.leader.stop(release=True)
        self._follow()
        if not self.service.intake.pool.wait_idle(left()):
            log.warning(
                "stopping with %d acknowledged interactions unanswered", self.service.intake.pool.active()
            )
        self.service.intake.pool.shutdown(wait=False)
        if not (self.runner.wait_idle(left()) and self.service.recovery.inflight.wait_unlocked(left())):
            log.warning(
                "operations still running after the %.0f s grace: their locks are left to expire", grace
            )
        try:
            self.service.recovery.interrupt_remaining()
        except Exception as exc:  # PostgreSQL down at shutdown: the next reaper pass marks them
            log.warning(
                "could not mark unfinished operations interrupted: %s", self.redactor.redact(str(exc))
            )
        self.runner.shutdown(wait=False)
        self.environments.close()
        self.kube.close()
        self.db.close()
        self.redis.close()


def schedulers(
    environments: EnvironmentSet, book: Schedules, run: Callable[..., Any], alerts: AlertPipeline
) -> Scheduler | SchedulerGroup:
    """The one scheduler, or with several environments one per environment (its own schedule rows,
    its runs in it, its failures routed to its alert channel) under one face; the leader runs them."""
    if not environments.several:
        return Scheduler(book, run, alerts)
    group = []
    for env in environments:
        env.schedules = own = book.in_environment(env.name, env.schedule_names)
        in_env: ScheduledRun = functools.partial(run, env=env)
        group.append(Scheduler(own, in_env, alerts, alert_channel=env.alert_channel))
    return SchedulerGroup(group)


def build_bot(settings: Settings, *, progress_interval: float = 1.0) -> Bot:
    """Wire every part from settings. Raises AccessConfigError for a bad access file."""
    secrets = settings.secret_values() + environment_secrets(settings)
    redactor = Redactor(secrets)
    register_secrets(secrets)  # rendering redacts raw text before it escapes and clips
    metrics = BotMetrics()
    install_log_redaction(redactor)

    registry = default_registry()
    names = environment_names(settings.environments_config, settings.environment_name)
    access_config = load_access_config(
        settings.access_config,
        known_commands=registry.verbs(),
        known_environments=names,
    )
    automation = load_automation(settings.automation_config)

    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=metrics.counting_retries(
            [ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=3)]
        ),
    )
    rds = redis_client(settings.redis_url.get_secret_value())
    db = Database(settings.bot_database_url.get_secret_value())
    try:
        db.migrate()
    except StoreUnavailable as exc:
        log.warning("PostgreSQL unavailable at start-up (%s); changes are refused until it is back", exc)

    def fetch_group(group_id: str) -> list[str]:
        users = client.usergroups_users_list(usergroup=group_id).get("users") or []
        return [str(u) for u in users]

    access = AccessControl(access_config, GroupDirectory(fetch_group, rds, settings.redis_prefix))
    kube = KubeClient.from_kubeconfig(settings.kubeconfig, settings.litemaas_namespace)
    permissions = Permissions(access, settings.slash_command)
    store = OperationStore(db)
    audit = AuditLog(db, redactor)
    locks = TargetLocks(rds, settings.redis_prefix, ttl_seconds=settings.lock_ttl_seconds)
    schedules = Schedules(automation, ScheduleStore(db))
    bot_state = BotStateView(
        registry=registry,
        access=access,
        permissions=permissions,
        audit=audit,
        store=store,
        locks=locks,
        several_environments=len(names) > 1,
    )
    environments = build_environments(settings, {"schedules": schedules, "bot": bot_state}, kube)
    runner = JobRunner(workers=settings.worker_threads)
    messenger = Messenger(client, redactor, metrics)
    service = build_service(
        registry=registry,
        environments=environments,
        access=access,
        permissions=permissions,
        db=db,
        store=store,
        audit=audit,
        locks=locks,
        runner=runner,
        messenger=messenger,
        stash=ArgumentStash(rds, settings.redis_prefix, settings.slack_signing_secret.get_secret_value()),
        metrics=metrics,
        progress_interval=progress_interval,
    )
    alerts = AlertPipeline(
        client=rds,
        prefix=settings.redis_prefix,
        messenger=messenger,
        config=automation.alerts,
        metrics=metrics,
        silences=SilenceStore(db),
    )
    desk = AlertDesk(  # one for every environment: alerts and silences are the bot's, across them
        pipeline=alerts,
        silences=SilenceStore(db),
        audit=audit,
        components=sorted({name for each in environments for name in each.components}),
        alertmanager=AlertmanagerSilences(settings.alertmanager_url) if settings.alertmanager_url else None,
    )
    for each in environments:
        each.alerts = desk
    metrics.watch_pending_approvals(lambda: len(service.store.pending()))
    scheduler = schedulers(environments, schedules, service.runs.run_scheduled, alerts)
    holds = Holds(locks=locks, store=store, messenger=messenger, client=rds, prefix=settings.redis_prefix)
    watchers = Watchers(
        build_watches(automation),
        environments=list(environments),
        pipeline=alerts,
        redactor=redactor,
        holds=holds,
    )
    app = build_app(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        service=service,
        messenger=messenger,
        deduper=Deduper(rds, settings.redis_prefix),
        slash_command=settings.slash_command,
        alert_pipeline=alerts,
    )
    return Bot(
        settings=settings,
        redactor=redactor,
        db=db,
        redis=rds,
        service=service,
        app=app,
        runner=runner,
        kube=kube,
        env=environments.first,
        environments=environments,
        automation=automation,
        alerts=alerts,
        scheduler=scheduler,
        watchers=watchers,
        metrics=metrics,
    )
