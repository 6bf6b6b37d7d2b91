"""Leader election on a Lease against the Kubernetes sandbox over HTTP, with 2-second leases.

Each elector has its own KubeClient, as each replica would. Timing bounds follow client-go's rules:
a follower takes over an unreleased Lease one lease duration after it last saw it change; a leader
that cannot renew stops leading within one lease duration.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.leader import LeaderElection
from commands.clients.kube import KubeClient, LeaseSpec
from sandbox.kube import KubeSandbox
from tests.integration.conftest import NAMESPACE

LEASE = "litemaas-chatops-leader"
SECONDS = 2.0
RETRY = SECONDS / 3
SLACK = 0.5  # scheduling and HTTP round trips on a busy 2-core machine
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class Replica:
    """One competing replica: an elector with its own client, and what its callbacks saw."""

    def __init__(self, sb: KubeSandbox, tmp_path: Path, identity: str, fail_start: bool = False) -> None:
        self.client = KubeClient.from_kubeconfig(
            sb.write_kubeconfig(tmp_path / f"{identity}.kubeconfig"), NAMESPACE
        )
        self.events: list[tuple[str, float]] = []
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.fail_start = fail_start
        self.elector = LeaderElection(
            self.client,
            name=LEASE,
            identity=identity,
            lease_seconds=SECONDS,
            on_started_leading=self._started,
            on_stopped_leading=self._stopped,
        )

    def _started(self) -> None:
        self.events.append(("started", time.monotonic()))
        self.started.set()
        if self.fail_start:
            raise RuntimeError("watchers could not start")

    def _stopped(self) -> None:
        self.events.append(("stopped", time.monotonic()))
        self.stopped.set()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@pytest.fixture
def replicas(sb: KubeSandbox, tmp_path: Path) -> Iterator[Callable[..., Replica]]:
    """Make replicas; each is stopped (released) and its client closed at the end of the test."""
    made: list[Replica] = []

    def make(identity: str, start: bool = True, fail_start: bool = False) -> Replica:
        replica = Replica(sb, tmp_path, identity, fail_start)
        made.append(replica)
        if start:
            replica.elector.start()
        return replica

    yield make
    for replica in made:
        replica.elector.stop(release=True, timeout=5)
        replica.client.close()


def lease(sb: KubeSandbox) -> dict[str, Any]:
    return sb.get("leases", LEASE)


def spec(sb: KubeSandbox) -> dict[str, Any]:
    return dict(lease(sb)["spec"])


def leader_of(*replicas: Replica) -> Replica | None:
    leading = [r for r in replicas if r.elector.is_leader]
    assert len(leading) <= 1, f"two leaders at once: {[r.elector.identity for r in leading]}"
    return leading[0] if leading else None


def test_of_two_replicas_exactly_one_leads_and_renews_with_optimistic_concurrency(
    sb: KubeSandbox, replicas: Callable[..., Replica]
) -> None:
    a, b = replicas("pod-a"), replicas("pod-b")

    assert wait_until(lambda: leader_of(a, b) is not None, SECONDS)
    first = leader_of(a, b)
    assert first is not None
    # For two renewal periods and more, the same single replica leads.
    deadline = time.monotonic() + 3 * RETRY
    while time.monotonic() < deadline:
        assert leader_of(a, b) is first
        time.sleep(0.03)

    other = b if first is a else a
    assert first.kinds() == ["started"] and other.kinds() == []
    assert first.elector.holder == other.elector.holder == first.elector.identity
    held = spec(sb)
    assert held["holderIdentity"] == first.elector.identity
    assert held["leaseDurationSeconds"] == 2 and held["leaseTransitions"] == 0
    assert MICRO_TIME.match(held["renewTime"]) and MICRO_TIME.match(held["acquireTime"])
    assert held["renewTime"] > held["acquireTime"]  # renewed since acquired
    # Every write of the Lease after its creation names the resourceVersion it was based on.
    puts = [r for r in sb.requests if r.method == "PUT" and r.path.endswith(f"/leases/{LEASE}")]
    assert puts and all(json.loads(r.body)["metadata"].get("resourceVersion") for r in puts)


def test_a_released_lease_is_taken_over_at_once(sb: KubeSandbox, replicas: Callable[..., Replica]) -> None:
    a = replicas("pod-a")
    assert wait_until(lambda: a.elector.is_leader, SECONDS)
    b = replicas("pod-b")
    assert wait_until(lambda: b.elector.holder == "pod-a", SECONDS)

    stopped_at = time.monotonic()
    a.elector.stop(release=True)

    assert a.kinds() == ["started", "stopped"] and not a.elector.is_leader
    assert wait_until(lambda: b.elector.is_leader, RETRY + SLACK)
    assert time.monotonic() - stopped_at < SECONDS  # no waiting for the lease to expire
    taken = spec(sb)
    assert (taken["holderIdentity"], taken["leaseTransitions"]) == ("pod-b", 1)


@pytest.mark.slow
def test_a_leader_gone_without_release_is_replaced_after_one_lease_duration(
    sb: KubeSandbox, replicas: Callable[..., Replica]
) -> None:
    a = replicas("pod-a")
    assert wait_until(lambda: a.elector.is_leader, SECONDS)
    b = replicas("pod-b")
    assert wait_until(lambda: b.elector.holder == "pod-a", SECONDS)

    stopped_at = time.monotonic()
    a.elector.stop(release=False)  # as if the pod died: the Lease still names pod-a

    assert spec(sb)["holderIdentity"] == "pod-a"
    # The Lease was renewed at most one retry period before the stop, so it is valid for a while yet.
    time.sleep(SECONDS / 2)
    assert not b.elector.is_leader
    assert wait_until(
        lambda: b.elector.is_leader, stopped_at + SECONDS + 2 * RETRY + SLACK - time.monotonic()
    )
    taken = spec(sb)
    assert (taken["holderIdentity"], taken["leaseTransitions"]) == ("pod-b", 1)


def test_a_leader_whose_renewals_fail_stops_leading_within_one_lease_then_competes_again(
    sb: KubeSandbox, replicas: Callable[..., Replica], caplog: pytest.LogCaptureFixture
) -> None:
    a = replicas("pod-a")
    assert wait_until(lambda: a.elector.is_leader, SECONDS)

    caplog.set_level(logging.INFO, logger="bot.leader")
    sb.inject_error("*", f"/leases/{LEASE}$", 503, "etcdserver: request timed out", times=4)
    failing_since = time.monotonic()

    assert a.stopped.wait(SECONDS + SLACK)
    lost_after = a.events[-1][1] - failing_since
    assert lost_after <= SECONDS
    assert not a.elector.is_leader
    # Once the API answers again, it takes its own Lease back (same holder: no new transition).
    assert wait_until(lambda: a.kinds() == ["started", "stopped", "started"], 6 * RETRY + SLACK)
    assert (spec(sb)["holderIdentity"], spec(sb)["leaseTransitions"]) == ("pod-a", 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("etcdserver: request timed out" in r.getMessage() for r in warnings)
    assert any("stopped leading: could not renew" in r.getMessage() for r in warnings)
    assert all(r.exc_info is None for r in caplog.records)  # expected errors: no stack traces
    # The same error is logged once, not on every retry.
    assert sum("etcdserver" in r.getMessage() for r in warnings) <= 2


def test_a_leader_cut_off_from_the_api_stops_leading_and_stops_promptly(
    sb: KubeSandbox, replicas: Callable[..., Replica]
) -> None:
    a = replicas("pod-a")
    assert wait_until(lambda: a.elector.is_leader, SECONDS)

    sb.stop()
    cut_at = time.monotonic()

    assert a.stopped.wait(SECONDS + SLACK)
    assert a.events[-1][1] - cut_at <= SECONDS and not a.elector.is_leader
    began = time.monotonic()
    a.elector.stop(release=True)  # the release fails (unreachable): logged, no hang
    assert time.monotonic() - began < SECONDS
    assert a.kinds() == ["started", "stopped"]


@pytest.mark.slow
def test_a_leader_steps_down_at_once_when_another_holder_wrote_the_lease(
    sb: KubeSandbox, replicas: Callable[..., Replica], kube: KubeClient
) -> None:
    a = replicas("pod-a")
    assert wait_until(lambda: a.elector.is_leader, SECONDS)

    current = kube.get_lease(LEASE)
    now = datetime.now(UTC)
    kube.replace_lease(
        LEASE,
        LeaseSpec("intruder", 2, now, now, current["spec"]["leaseTransitions"] + 1),
        current["metadata"]["resourceVersion"],
    )
    written_at = time.monotonic()

    # Its next renewal is a 409; it reads the Lease, sees the intruder and stops at once.
    assert a.stopped.wait(RETRY + SLACK)
    assert not a.elector.is_leader and a.elector.holder == "intruder"
    # The intruder never renews: one lease duration after pod-a saw it, pod-a takes over again.
    assert wait_until(lambda: a.elector.is_leader, SECONDS + 2 * RETRY + SLACK)
    assert time.monotonic() - written_at >= SECONDS - RETRY
    assert (spec(sb)["holderIdentity"], spec(sb)["leaseTransitions"]) == ("pod-a", 2)


def test_a_failing_on_started_leading_gives_the_lease_up_to_another_replica(
    sb: KubeSandbox, replicas: Callable[..., Replica]
) -> None:
    a = replicas("pod-a", fail_start=True)
    assert wait_until(lambda: a.kinds() == ["started", "stopped"], SECONDS)
    assert wait_until(lambda: spec(sb)["holderIdentity"] == "", 1.0)  # released at once

    b = replicas("pod-b")
    assert wait_until(lambda: b.elector.is_leader, RETRY + SLACK)
    assert not a.elector.is_leader
    assert spec(sb)["holderIdentity"] == "pod-b"


def test_an_elector_starts_once_and_needs_a_positive_lease(
    sb: KubeSandbox, replicas: Callable[..., Replica], kube: KubeClient
) -> None:
    a = replicas("pod-a")
    with pytest.raises(RuntimeError, match="already started"):
        a.elector.start()
    with pytest.raises(ValueError, match="lease_seconds"):
        LeaderElection(
            kube,
            name=LEASE,
            identity=None,
            lease_seconds=0,
            on_started_leading=print,
            on_stopped_leading=print,
        )
    default = LeaderElection(
        kube, name=LEASE, identity=None, lease_seconds=2, on_started_leading=print, on_stopped_leading=print
    )
    assert re.fullmatch(r".+-\d+", default.identity)


@pytest.mark.kubectl
def test_kubectl_shows_the_holder_and_transitions_of_the_lease(
    sb: KubeSandbox, replicas: Callable[..., Replica], tmp_path: Path
) -> None:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not on PATH")
    a = replicas("pod-a")
    assert wait_until(lambda: a.elector.is_leader, SECONDS)
    a.elector.stop(release=True)
    b = replicas("pod-b")
    assert wait_until(lambda: b.elector.is_leader, SECONDS)

    kubeconfig = sb.write_kubeconfig(tmp_path / "kubectl.kubeconfig")
    done = subprocess.run(
        [
            binary,
            f"--kubeconfig={kubeconfig}",
            f"--cache-dir={tmp_path / 'cache'}",
            "get",
            "lease",
            LEASE,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["kind"] == "Lease" and shown["apiVersion"] == "coordination.k8s.io/v1"
    assert shown["spec"]["holderIdentity"] == "pod-b"
    assert shown["spec"]["leaseTransitions"] == 1 and shown["spec"]["leaseDurationSeconds"] == 2
    assert MICRO_TIME.match(shown["spec"]["renewTime"])
