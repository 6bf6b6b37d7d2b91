"""Kubernetes API emulator for tests and the demo (kube-api-surface.md §4), seeded with LiteMaaS.

`KubeSandbox(...).start()` serves it on 127.0.0.1; `write_kubeconfig()` points kubectl or the
official `kubernetes` client at it. Never imports `bot` or `commands`.
"""

from sandbox.kube.errors import ApiError
from sandbox.kube.logs import litellm_startup_lines
from sandbox.kube.recording import RecordedRequest
from sandbox.kube.sandbox import SANDBOX_TOKEN, KubeSandbox

__all__ = ["SANDBOX_TOKEN", "ApiError", "KubeSandbox", "RecordedRequest", "litellm_startup_lines"]
