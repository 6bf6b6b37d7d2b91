"""`RegistrySandbox`: the sandbox registry served on 127.0.0.1, standing in for quay.io,
registry.redhat.io, registry.access.redhat.com and docker.io at once (each repository is named with its
host first: `quay.io/rh-aiservices-bu/litemaas-backend`). The bot's client reaches it through a mirror
map (`REGISTRY_MIRRORS`, see `mirrors()`), which `sandbox --write-env` writes."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from sandbox.http_base import serve_in_background, stop_serving, url_of
from sandbox.registry.seed import seeded_store
from sandbox.registry.server import RegistryServer, RegistryState
from sandbox.registry.store import ImageStore

MIRRORED_HOSTS = ("quay.io", "registry.redhat.io", "registry.access.redhat.com", "docker.io", "ghcr.io")


class RegistrySandbox:
    """Serves `store` (default: the seeded images). `users` may fetch tokens for `private` repositories."""

    def __init__(
        self,
        store: ImageStore | None = None,
        *,
        users: Mapping[str, str] | None = None,
        private: Iterable[str] = (),
        service: str = "sandbox-registry",
    ) -> None:
        self.store = store if store is not None else seeded_store()
        self.state = RegistryState(self.store, dict(users or {}), set(private))
        self.service = service
        self._server: RegistryServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> RegistrySandbox:
        if self._server is not None:
            raise RuntimeError("the registry sandbox is already started")
        self._server = RegistryServer((host, port), self.state, self.service)
        self._thread = serve_in_background(self._server, "registry-sandbox-http")
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop_serving(self._server, self._thread)
            self._server, self._thread = None, None

    def __enter__(self) -> RegistrySandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the registry sandbox is not started; call start() first")
        return url_of(self._server)

    def mirrors(self) -> dict[str, str]:
        """Registry host → this server with the host as repository prefix (the `REGISTRY_MIRRORS` map)."""
        return {host: f"{self.url}/{host}" for host in MIRRORED_HOSTS}

    def set_unavailable(self, unavailable: bool = True) -> None:
        """Every request answers 503 (an outage) until set back."""
        self.state.unavailable = unavailable

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far, oldest first."""
        with self.state.lock:
            return list(self.state.requests)
