"""Fixtures for the sandbox fidelity tests: a started `KubeSandbox`, its kubeconfig, and real kubectl."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.kube import KubeSandbox

KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kube_sandbox() -> Iterator[KubeSandbox]:
    """A seeded sandbox on 127.0.0.1, port chosen by the OS; rollouts move only on step()/settle()."""
    sb = KubeSandbox(namespace="litellm-rhpds", seed=True).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def kubeconfig(kube_sandbox: KubeSandbox, tmp_path: Path) -> Path:
    """A kubeconfig pointing at `kube_sandbox` (plain http, token user, namespace litellm-rhpds)."""
    return kube_sandbox.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubectl_args(kubeconfig: Path, tmp_path: Path) -> list[str]:
    """The real kubectl with the sandbox kubeconfig and a per-test discovery cache; skips without kubectl."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not on PATH")
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--cache-dir={tmp_path / 'kube-cache'}",
        "--request-timeout=10s",
    ]


@pytest.fixture
def kubectl(kubectl_args: list[str]) -> KubectlRunner:
    """Run kubectl to completion (bounded by a subprocess timeout) and return the completed process."""

    def run(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*kubectl_args, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    return run
