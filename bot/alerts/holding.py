"""The bot's own operations own their side effects: a finding on a target an operation holds (a scale,
an upgrade, a restart under way) is said once in that operation's progress thread, not alerted.

Which operation holds a finding's target is read from the locks (Redis, shared by replicas) and the
operation's row (PostgreSQL): the watcher on the leader sees operations run by any replica.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from bot import rendering
from bot.alerts.model import Alert
from bot.locks import LocksUnavailable, TargetLocks
from bot.messenger import Messenger
from bot.store import OperationStore, StoreUnavailable
from commands import targets
from commands.contract import mention
from commands.environment import Environment

log = logging.getLogger(__name__)

_NOTE_TTL = 24 * 3600  # one note per operation and finding


@dataclass(frozen=True)
class Holder:
    """The operation holding a finding's target, as the alert and its thread name it."""

    operation_id: str
    text: str
    requester: str
    channel: str
    progress_ts: str | None

    @property
    def named(self) -> str:
        """e.g. "`/maas scale litellm 3` by @alice, op 1f2e3d4c" (the mention rendered by the bot)."""
        return f"`{self.text}` by {mention(self.requester)}, op {self.operation_id[:8]}"


def component_targets(env: Environment, component: str) -> list[str]:
    """The locks whose operations change `component` in `env`: its Deployment, all Deployments,
    LiteLLM's Redis (named as the runs take them: with the environment's lock prefix)."""
    prefix = env.lock_prefix
    if component == "redis":
        return [prefix + targets.LITELLM_REDIS]
    known = env.components.get(component)
    if known is None:
        return []
    return [prefix + targets.deployment(known.deployment), prefix + targets.ALL_DEPLOYMENTS]


class Holds:
    """Finds the operation holding a component, and notes a finding in its progress thread once."""

    def __init__(
        self,
        *,
        locks: TargetLocks,
        store: OperationStore,
        messenger: Messenger,
        client: redis.Redis,
        prefix: str,
    ) -> None:
        self.locks = locks
        self.store = store
        self.messenger = messenger
        self.redis = client
        self.prefix = prefix

    def holder(self, env: Environment, component: str) -> Holder | None:
        """The operation holding one of the component's targets in `env` now, or None (also when
        unreadable)."""
        for target in component_targets(env, component):
            try:
                lock = self.locks.holder(target)
                record = self.store.get(lock.operation) if lock and lock.operation else None
            except (LocksUnavailable, StoreUnavailable, ValueError) as exc:
                log.info("cannot tell who holds %s: %s", target, exc)
                return None
            if record is not None:
                return Holder(
                    str(record.id), record.text, record.requester, record.channel, record.progress_ts
                )
        return None

    def note(self, holder: Holder, alert: Alert, watcher: str) -> None:
        """Say once, in the operation's progress thread, what the watcher sees while it runs."""
        if holder.progress_ts is None:
            return
        key = f"{self.prefix}alert-held:{holder.operation_id}:{alert.fingerprint}"
        if not self.redis.set(key, "1", nx=True, ex=_NOTE_TTL):
            return
        text = f"👀 The {watcher} watcher sees: {alert.title} (expected while this runs; not alerted)"
        self.messenger.post(holder.channel, rendering.render_text(text), thread_ts=holder.progress_ts)
