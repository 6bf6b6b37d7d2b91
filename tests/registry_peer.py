"""The real CNCF distribution registry (Debian's `docker-registry`) as a test peer: one process on a
free loopback port, its own storage and htpasswd file (basic auth, bcrypt), no TLS.

`RegistryProcess(tmp_path, users={...}).start()` waits for `/v2/`; `push_image`/`push_index` upload
blobs (POST + PUT) and PUT manifests through the distribution API, as a container engine would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import httpx
import yaml

from tests.alertmanager import free_port

BINARY_NAMES = ("docker-registry", "registry")  # Debian's name, upstream's name
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def registry_binary() -> str | None:
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def bcrypt_hash(password: str) -> str | None:
    """An htpasswd bcrypt hash through the C library's crypt(3); None where it cannot make one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    return hashed if hashed and hashed.startswith("$2") else None


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


class RegistryProcess:
    """One registry on 127.0.0.1:<free port>; with `users`, every request needs basic auth."""

    def __init__(
        self, workdir: Path, *, users: dict[str, str] | None = None, binary: str | None = None
    ) -> None:
        self.workdir = workdir
        self.binary = binary or registry_binary() or BINARY_NAMES[0]
        self.port = free_port()
        self.users = dict(users or {})
        self.log_path = workdir / "registry.log"
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {
                "filesystem": {"rootdirectory": str(workdir / "registry-data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"127.0.0.1:{self.port}"},
        }
        if self.users:
            lines = []
            for user, password in self.users.items():
                hashed = bcrypt_hash(password)
                if hashed is None:
                    raise RuntimeError("this Python cannot make bcrypt hashes for htpasswd")
                lines.append(f"{user}:{hashed}")
            (workdir / "htpasswd").write_text("\n".join(lines) + "\n")
            config["auth"] = {"htpasswd": {"realm": "test-registry", "path": str(workdir / "htpasswd")}}
        self.config_path = workdir / "registry.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self._process: subprocess.Popen[bytes] | None = None
        auth = next(iter(self.users.items()), None)
        self.http = httpx.Client(base_url=self.url, timeout=10, auth=auth)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> RegistryProcess:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [self.binary, "serve", str(self.config_path)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the registry exited with {self._process.returncode}:\n{self.log()}")
            try:
                if self.http.get("/v2/").status_code in (200, 401):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the registry was not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        self.http.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None

    # -- pushing, as a container engine does -----------------------------------------------------

    def push_blob(self, repository: str, data: bytes) -> str:
        """POST an upload session, then PUT the bytes with their digest (a monolithic upload)."""
        digest = _digest(data)
        started = self.http.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"  # keep the session's _state query
        done = self.http.put(
            f"{location}{separator}digest={digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        return digest

    def push_manifest(
        self, repository: str, reference: str, manifest: dict[str, object], media_type: str
    ) -> str:
        body = json.dumps(manifest).encode()
        response = self.http.put(
            f"/v2/{repository}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
        )
        assert response.status_code == 201, response.text
        return str(response.headers["Docker-Content-Digest"])

    def push_image(
        self, repository: str, tag: str, *, arch: str = "amd64", media_type: str = OCI_MANIFEST
    ) -> str:
        """A one-layer image manifest under `tag`; returns its digest."""
        config = json.dumps(
            {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode()
        layer = f"{repository}:{tag}:{arch}".encode()
        config_type = (
            "application/vnd.oci.image.config.v1+json"
            if media_type == OCI_MANIFEST
            else ("application/vnd.docker.container.image.v1+json")
        )
        layer_type = (
            "application/vnd.oci.image.layer.v1.tar+gzip"
            if media_type == OCI_MANIFEST
            else ("application/vnd.docker.image.rootfs.diff.tar.gzip")
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": config_type,
                "digest": self.push_blob(repository, config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": layer_type, "digest": self.push_blob(repository, layer), "size": len(layer)}
            ],
        }
        return self.push_manifest(repository, tag, manifest, media_type)

    def push_index(self, repository: str, tag: str, arches: tuple[str, ...] = ("amd64", "arm64")) -> str:
        """An OCI index over one image per architecture (each pushed by digest); returns its digest."""
        entries = []
        for arch in arches:
            digest = self.push_image(repository, f"{tag}-{arch}", arch=arch)
            size = len(
                self.http.get(
                    f"/v2/{repository}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
                ).content
            )
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": size,
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return self.push_manifest(repository, tag, index, OCI_INDEX)
