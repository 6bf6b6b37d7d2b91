"""Runs the checks of `commands.checks` at their intervals (leader only) and feeds the alert pipeline.

Each check runs on its own thread so that a slow one (drift over a million keys, a Kubernetes API that
times out) never delays the others. A check that cannot look is itself an alert, resolved when it can
look again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from croniter import croniter

from bot.alerts.damping import Candidate, Damper
from bot.alerts.holding import Holds
from bot.alerts.model import Alert
from bot.alerts.pipeline import AlertPipeline
from bot.automation import AutomationConfig, Watcher
from bot.redaction import Redactor
from commands.checks import Check, Finding
from commands.checks.registry import CheckSettings, build_checks
from commands.clients.kube_errors import KubeError
from commands.contract import OperationError
from commands.environment import Environment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watch:
    """A named check, how often it runs, and how long its findings pend and clear (automation file)."""

    name: str
    check: Check
    interval: float
    timing: Watcher = field(default_factory=lambda: Watcher(pending_seconds=0, clear_seconds=0))


def to_alert(watch: str, finding: Finding, env: Environment | None = None) -> Alert:
    """A finding as an alert: its fingerprint is the watch name plus the finding's stable key. With
    several environments (`env` given) it names its environment, routes to the environment's channel,
    and its buttons run in that environment."""
    if env is None:
        return Alert(
            fingerprint=f"watch:{watch}:{finding.key}",
            severity=finding.severity,
            component=finding.component,
            title=finding.title,
            details=finding.details,
            actions=finding.actions,
            source=f"watch:{watch}",
        )
    marker = "🚨 PRODUCTION " if env.production else ""
    return Alert(
        fingerprint=f"watch:{env.name}:{watch}:{finding.key}",
        severity=finding.severity,
        component=finding.component,
        title=f"{marker}[{env.name}] {finding.title}",
        details=finding.details,
        actions=tuple(replace(a, command=f"{a.command} --env {env.name}") for a in finding.actions),
        source=f"watch:{watch}@{env.name}",
        environment=env.name,
        route=env.alert_channel,
    )


class Watchers:
    """Starts and stops the watch threads; `run_once` is one pass of one watch (tests, first pass)."""

    def __init__(
        self,
        watches: list[Watch],
        *,
        environments: list[Environment],
        pipeline: AlertPipeline,
        redactor: Redactor,
        holds: Holds | None = None,
    ) -> None:
        self.watches = watches
        self.environments = environments  # every watch runs for each, on its own thread
        self.several = len(environments) > 1
        self.pipeline = pipeline
        self.redactor = redactor
        self.holds = holds
        self.damper = Damper(pipeline.redis, pipeline.prefix, pipeline.clock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        if self.running:
            return
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._loop,
                args=(watch, env, self._stop),
                name=f"watch-{watch.name}" + (f"@{env.name}" if self.several else ""),
                daemon=True,
            )
            for env in self.environments
            for watch in self.watches
        ]
        for thread in self._threads:
            thread.start()
        log.info("watchers started: %s", ", ".join(w.name for w in self.watches) or "none")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def run_once(self, watch: Watch, env: Environment | None = None) -> None:
        """One pass in `env` (None: in each environment): the check's findings become the watch's
        complete set of alerts there."""
        if env is None:
            for each in self.environments:
                self.run_once(watch, each)
            return
        try:
            findings = watch.check(env)
        except (OperationError, KubeError) as exc:
            findings = [_cannot_look(watch.name, str(exc))]
        except Exception as exc:  # a bug in one check must not stop its thread
            log.exception("watch %s failed", watch.name)
            findings = [
                _cannot_look(watch.name, f"the check failed on the bot's side ({type(exc).__name__})")
            ]
        scoped = env if self.several else None
        source = f"watch:{watch.name}" + (f"@{env.name}" if scoped else "")
        candidates = [self._candidate(watch, finding, env, scoped) for finding in findings]
        firing = {fp for fp, who in self.pipeline.firing().items() if who == source}
        sifted = self.damper.sift(source, candidates, firing=firing, clear_seconds=watch.timing.clear_seconds)
        for held in sifted.held:
            if self.holds is not None and held.holder is not None:
                self.holds.note(held.holder, held.alert, watch.name)
        self.pipeline.report(source, sifted.fire, keep=sifted.keep)

    def _candidate(
        self, watch: Watch, finding: Finding, env: Environment, scoped: Environment | None
    ) -> Candidate:
        """The finding as an alert with its pending time, and the operation holding its target."""
        holder = self.holds.holder(env, finding.component) if self.holds is not None else None
        return Candidate(
            to_alert(watch.name, finding, scoped),
            watch.timing.pending_for(finding.failed),
            holder=holder,
        )

    def _loop(self, watch: Watch, env: Environment, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once(watch, env)
            except Exception as exc:  # Redis or Slack trouble: log plainly, try again next interval
                log.warning("watch %s could not report: %s", watch.name, self.redactor.redact(str(exc)))
            stop.wait(watch.interval)


def _cannot_look(watch: str, reason: str) -> Finding:
    return Finding(
        key="cannot-look",
        severity="warning",
        component="chatops",
        title=f"The {watch} watcher cannot check: {reason}",
    )


def backup_max_age(config: AutomationConfig, now: datetime | None = None) -> timedelta:
    """How old the newest backup may be: one period of the backup schedule plus a grace of 10 % (≥ 1 h)."""
    schedule = config.schedules.get("backup")
    if schedule is None or not schedule.enabled:
        return timedelta(days=32)
    moment = now or datetime.now(UTC)
    runs = croniter(schedule.cron, moment)
    previous: datetime = runs.get_prev(datetime)
    before: datetime = runs.get_prev(datetime)
    period = previous - before
    return period + max(timedelta(hours=1), period / 10)


def build_watches(config: AutomationConfig) -> list[Watch]:
    """The enabled watches of the automation file, with their intervals and thresholds."""
    checks = build_checks(
        CheckSettings(drift_thresholds=config.alerts.drift_thresholds, backup_max_age=backup_max_age(config))
    )
    watches = []
    for name, check in checks.items():
        watcher = config.alerts.watcher(name)
        if watcher.enabled:
            watches.append(Watch(name, check, watcher.interval_seconds, watcher))
    return watches
