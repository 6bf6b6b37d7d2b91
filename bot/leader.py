"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics, in a daemon thread.

Only the leader replica runs watchers and schedules. The Lease is created when absent, renewed every
lease/6 with optimistic concurrency (resourceVersion; a 409 means someone else wrote it) and taken
over when its holder stopped renewing. Expiry is judged by the local monotonic clock from when this
replica last saw the record change, never by comparing `renewTime` with our wall clock, so clock skew
between nodes does not matter. A leader that cannot renew for 2/3 of a lease stops leading before any
other replica may take over, then competes again. A clean stop releases the Lease (empty holder) so
the next replica takes over at once.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from commands.clients.kube import KubeClient, LeaseSpec
from commands.clients.kube_errors import KubeError

log = logging.getLogger(__name__)

Callback = Callable[[], None]


def default_identity() -> str:
    """This process's identity in the Lease when the pod name is not known: `<hostname>-<pid>`."""
    return f"{socket.gethostname()}-{os.getpid()}"


class _Attempt(enum.Enum):
    """The outcome of one try to acquire or renew."""

    HOLDING = "holding"  # we hold the Lease now
    HELD_BY_OTHER = "held by another replica"
    FAILED = "failed"  # the API could not be asked or answered an error: state unknown


@dataclass(frozen=True)
class _Observed:
    """The Lease as last read or written: its spec, resourceVersion, and when we saw the spec change."""

    spec: dict[str, Any]
    resource_version: str
    changed_at: float  # time.monotonic() when this spec was first seen

    @property
    def holder(self) -> str:
        return str(self.spec.get("holderIdentity") or "")

    @property
    def transitions(self) -> int:
        value = self.spec.get("leaseTransitions")
        return value if isinstance(value, int) and value >= 0 else 0

    def duration(self, fallback: float) -> float:
        value = self.spec.get("leaseDurationSeconds")
        return float(value) if isinstance(value, int) and value > 0 else fallback

    def acquire_time(self) -> datetime | None:
        value = self.spec.get("acquireTime")
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None


class LeaderElection:
    """Compete for Lease `name`; call `on_started_leading` / `on_stopped_leading` as leadership changes.

    The callbacks run on the election thread and must return fast (start or stop other threads); an
    exception from `on_started_leading` gives the leadership up. `lease_seconds` >= 2: tries every
    sixth of it, a lost leadership after two thirds of it without a successful renewal.
    """

    def __init__(
        self,
        kube: KubeClient,
        *,
        name: str,
        identity: str | None,
        lease_seconds: float,
        on_started_leading: Callback,
        on_stopped_leading: Callback,
    ) -> None:
        if lease_seconds < 1:
            raise ValueError(f"lease_seconds must be at least 1, got {lease_seconds}")
        self.kube = kube
        self.name = name
        self.identity = identity or default_identity()
        self.lease_seconds = float(lease_seconds)
        self.retry_seconds = self.lease_seconds / 6  # client-go: 2 s of 15: takeover soon after expiry
        self.renew_deadline = self.lease_seconds * 2 / 3
        self._request_timeout = max(0.2, self.lease_seconds / 3)
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._observed: _Observed | None = None
        self._leading = threading.Event()
        self._stopping = threading.Event()
        self._release_on_stop = True
        self._thread: threading.Thread | None = None
        self._last_renewed = 0.0  # time.monotonic() when the last successful acquire/renew was sent
        self._last_problem = ""

    # -- public API --------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """Whether this replica leads now (its watchers and schedules should run)."""
        return self._leading.is_set()

    @property
    def holder(self) -> str | None:
        """The holder identity last seen in the Lease ("" when released), None before the first read."""
        observed = self._observed
        return None if observed is None else observed.holder

    def start(self) -> None:
        """Start competing in a daemon thread. A LeaderElection starts once."""
        if self._thread is not None:
            raise RuntimeError("this leader election was already started")
        self._thread = threading.Thread(target=self._run, name=f"leader-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True, timeout: float | None = None) -> None:
        """Stop competing: stop leading (callback) and, with `release`, free the Lease for the next replica.

        Without `release` the Lease stays held until it expires, as after a crash. Waits for the thread
        (at most `timeout`, default one lease duration plus a request timeout).
        """
        self._release_on_stop = release
        self._stopping.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(self.lease_seconds + self._request_timeout if timeout is None else timeout)
        if thread.is_alive():
            log.warning("leader election: the election thread for Lease %s did not stop in time", self.name)

    # -- the loop ----------------------------------------------------------------------------------

    def _run(self) -> None:
        log.info("leader election: %s competing for Lease %s", self.identity, self.name)
        try:
            while not self._stopping.is_set():
                if self._leading.is_set():
                    self._renew_until_lost()
                else:
                    self._acquire_once()
        except Exception:  # the election must never die silently; a bug here is logged with its trace
            log.exception("leader election: unexpected error; no longer competing for Lease %s", self.name)
        finally:
            was_leading = self._leading.is_set()
            if was_leading:
                self._stop_leading("shutting down", level=logging.INFO)
            if self._release_on_stop and (was_leading or self._holds_record()):
                self._release()

    def _acquire_once(self) -> None:
        sent = time.monotonic()
        if self._try_acquire_or_renew() is _Attempt.HOLDING:
            self._last_renewed = sent
            self._start_leading()
            return
        self._stopping.wait(self.retry_seconds)

    def _renew_until_lost(self) -> None:
        """Renew every retry period while leading; give up after `renew_deadline` without success.

        Time counts from when a successful write was sent (the server wrote it later, and other
        replicas count their lease duration from even later), so we stop before anyone may take over.
        """
        while not self._stopping.wait(self.retry_seconds):
            sent = time.monotonic()
            outcome = self._try_acquire_or_renew()
            if outcome is _Attempt.HOLDING:
                self._last_renewed = sent
                continue
            if outcome is _Attempt.HELD_BY_OTHER:
                self._stop_leading(f"Lease {self.name} is now held by {self.holder or 'nobody'}")
                return
            if time.monotonic() - self._last_renewed >= self.renew_deadline:
                self._stop_leading(f"could not renew Lease {self.name} for {self.renew_deadline:.1f}s")
                return

    def _start_leading(self) -> None:
        self._leading.set()
        observed = self._observed
        log.info(
            "leader election: %s now leads (Lease %s, %d transitions)",
            self.identity,
            self.name,
            observed.transitions if observed else 0,
        )
        try:
            self._on_started()
        except Exception:
            log.exception("leader election: on_started_leading failed; giving the leadership up")
            self._stop_leading("on_started_leading failed")
            self._release()
            self._stopping.wait(self.lease_seconds)  # let another replica try first

    def _stop_leading(self, reason: str, level: int = logging.WARNING) -> None:
        self._leading.clear()
        log.log(level, "leader election: %s stopped leading: %s", self.identity, reason)
        try:
            self._on_stopped()
        except Exception:
            log.exception("leader election: on_stopped_leading failed")

    # -- one try -------------------------------------------------------------------------------------

    def _spec(self, acquired: datetime, transitions: int) -> LeaseSpec:
        """Our claim on the Lease: held by us, renewed now."""
        return LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, math.ceil(self.lease_seconds)),
            acquire_time=acquired,
            renew_time=datetime.now(UTC),
            lease_transitions=transitions,
        )

    def _try_acquire_or_renew(self) -> _Attempt:
        """client-go's tryAcquireOrRenew: create, renew, or take over an expired Lease."""
        observed = self._observed
        if self._leading.is_set() and observed is not None and observed.holder == self.identity:
            # Fast path: the leader renews without a read; a 409 sends it through the full path.
            acquired = observed.acquire_time() or datetime.now(UTC)
            try:
                written = self.kube.replace_lease(
                    self.name,
                    self._spec(acquired, observed.transitions),
                    observed.resource_version,
                    timeout=self._request_timeout,
                )
            except KubeError as exc:
                if exc.status != 409:
                    self._problem(f"cannot renew Lease {self.name}: {exc}")
                    return _Attempt.FAILED
            else:
                self._observe(written)
                self._problem("")
                return _Attempt.HOLDING
        try:
            served = self.kube.get_lease(self.name, timeout=self._request_timeout)
        except KubeError as exc:
            if exc.status == 404:
                return self._create()
            self._problem(f"cannot read Lease {self.name}: {exc}")
            return _Attempt.FAILED
        observed = self._observe(served)
        if (
            observed.holder
            and observed.holder != self.identity
            and time.monotonic() < observed.changed_at + observed.duration(self.lease_seconds)
        ):
            self._problem("")
            return _Attempt.HELD_BY_OTHER
        if observed.holder == self.identity:
            spec = self._spec(observed.acquire_time() or datetime.now(UTC), observed.transitions)
        else:
            spec = self._spec(datetime.now(UTC), observed.transitions + 1)
            log.info(
                "leader election: taking over Lease %s from %s",
                self.name,
                observed.holder or "nobody (released)",
            )
        try:
            written = self.kube.replace_lease(
                self.name, spec, observed.resource_version, timeout=self._request_timeout
            )
        except KubeError as exc:
            if exc.status == 409:
                log.info("leader election: another replica wrote Lease %s first", self.name)
                return _Attempt.HELD_BY_OTHER
            self._problem(f"cannot write Lease {self.name}: {exc}")
            return _Attempt.FAILED
        self._observe(written)
        self._problem("")
        return _Attempt.HOLDING

    def _create(self) -> _Attempt:
        now = datetime.now(UTC)
        try:
            written = self.kube.create_lease(self.name, self._spec(now, 0), timeout=self._request_timeout)
        except KubeError as exc:
            if exc.status == 409:
                log.info("leader election: another replica created Lease %s first", self.name)
                return _Attempt.HELD_BY_OTHER
            self._problem(f"cannot create Lease {self.name}: {exc}")
            return _Attempt.FAILED
        log.info("leader election: created Lease %s", self.name)
        self._observe(written)
        self._problem("")
        return _Attempt.HOLDING

    def _release(self) -> None:
        """Write an empty holder (and a 1 s duration), as client-go's ReleaseOnCancel does."""
        observed = self._observed
        if observed is None or observed.holder != self.identity:
            return
        now = datetime.now(UTC)
        spec = LeaseSpec(
            holder_identity="",
            lease_duration_seconds=1,
            acquire_time=now,
            renew_time=now,
            lease_transitions=observed.transitions,
        )
        try:
            written = self.kube.replace_lease(
                self.name, spec, observed.resource_version, timeout=self._request_timeout
            )
        except KubeError as exc:
            log.warning(
                "leader election: could not release Lease %s (%s); it expires in %gs",
                self.name,
                exc,
                observed.duration(self.lease_seconds),
            )
            return
        self._observe(written)
        log.info("leader election: %s released Lease %s", self.identity, self.name)

    # -- bookkeeping ---------------------------------------------------------------------------------

    def _holds_record(self) -> bool:
        observed = self._observed
        return observed is not None and observed.holder == self.identity

    def _observe(self, served: dict[str, Any]) -> _Observed:
        """Remember the Lease as served; the clock restarts only when its spec changed."""
        spec = served.get("spec")
        spec = dict(spec) if isinstance(spec, dict) else {}
        rv = str((served.get("metadata") or {}).get("resourceVersion") or "")
        previous = self._observed
        if previous is not None and previous.spec == spec:
            observed = _Observed(spec, rv, previous.changed_at)
        else:
            observed = _Observed(spec, rv, time.monotonic())
        self._observed = observed
        return observed

    def _problem(self, message: str) -> None:
        """Log an API problem once (not on every retry); log recovery when it clears."""
        if message == self._last_problem:
            return
        if message:
            log.warning("leader election: %s", message)
        elif self._last_problem:
            log.info("leader election: the Kubernetes API answers again")
        self._last_problem = message
