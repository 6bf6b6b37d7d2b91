"""The sandbox registry over HTTP: the distribution API's read side as quay.io serves it.

- `GET /v2/`: 401 with `WWW-Authenticate: Bearer realm="<this>/v2/auth",service="<service>"` without a
  token, 200 with one.
- `GET /v2/auth?service=…&scope=repository:<name>:pull`: `{"token": …, "access_token": …,
  "expires_in": 300}`; anonymous pulls are granted except for private repositories, which need the
  basic credentials of a user.
- `GET /v2/<name>/tags/list[?n=N&last=T]`: lexical order with `Link: <…>; rel="next"` when cut.
- `HEAD|GET /v2/<name>/manifests/<tag|digest>`: `Docker-Content-Digest`, `Content-Type`; an OCI index
  when the client accepts one, else the linux/amd64 manifest.
- `GET /v2/<name>/blobs/<digest>`.
Errors carry the distribution error body (`NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, `UNAUTHORIZED`, …).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.http_base import DispatchingHandler, QuietThreadingServer
from sandbox.registry.store import DOCKER_LIST, OCI_INDEX, ImageStore

_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_TAGS = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
_BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$")
_ROUTES = (("manifest", _MANIFEST), ("tags", _TAGS), ("blob", _BLOB))


class RegistryState:
    """Content, users, private repositories, issued tokens, counters and an outage switch."""

    def __init__(self, store: ImageStore, users: dict[str, str], private: set[str]) -> None:
        self.store = store
        self.users = dict(users)
        self.private = set(private)
        self.tokens: dict[str, set[str]] = {}
        self.unavailable = False
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def grant(self, scope: str, user: str | None) -> str:
        repositories = set()
        for part in scope.split(" "):
            kind, _, rest = part.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and "pull" in actions.split(",") and (name not in self.private or user):
                repositories.add(name)
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = repositories
        return token

    def allowed(self, token: str | None, name: str | None) -> bool:
        with self.lock:
            granted = self.tokens.get(token or "")
        if granted is None:
            return False
        return name is None or name in granted


class RegistryServer(QuietThreadingServer):
    def __init__(self, address: tuple[str, int], state: RegistryState, service: str) -> None:
        super().__init__(address, RegistryHandler)
        self.state = state
        self.service = service


class RegistryHandler(DispatchingHandler):
    server: RegistryServer

    def do_HEAD(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        with state.lock:
            state.requests.append((self.command, parts.path))
        if state.unavailable:
            return self._error(503, "UNAVAILABLE", "the registry is unavailable")
        if self.command not in ("GET", "HEAD"):
            return self._error(405, "UNSUPPORTED", "the sandbox registry is read-only over HTTP")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/v2/auth":
            return self._token(query)
        token = self._bearer()
        if parts.path in ("/v2", "/v2/"):
            return self._json(200, {}) if state.allowed(token, None) else self._challenge(None)
        route = next(
            ((kind, m) for kind, pattern in _ROUTES if (m := pattern.match(parts.path)) is not None), None
        )
        if route is None:
            return self._error(404, "NOT_FOUND", "no such endpoint")
        kind, match = route
        name = match.group("name")
        if not state.allowed(token, name):
            return self._challenge(name)
        if state.store.tags(name) is None:
            return self._error(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name})
        if kind == "tags":
            return self._tags(name, query)
        if kind == "manifest":
            return self._manifest(name, match.group("ref"))
        return self._blob(match.group("digest"))

    # -- endpoints -----------------------------------------------------------------------------

    def _token(self, query: dict[str, str]) -> None:
        state = self.server.state
        user = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                name, password = "", ""
            if state.users.get(name) != password or not name:
                return self._error(401, "UNAUTHORIZED", "invalid username or password")
            user = name
        token = state.grant(query.get("scope", ""), user)
        self._json(200, {"token": token, "access_token": token, "expires_in": 300})

    def _tags(self, name: str, query: dict[str, str]) -> None:
        tags = self.server.state.store.tags(name) or []
        last = query.get("last")
        if last:
            tags = [t for t in tags if t > last]
        headers = {}
        try:
            limit = int(query["n"]) if "n" in query else None
        except ValueError:
            return self._error(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
        if limit is not None and len(tags) > limit:
            tags = tags[:limit]
            headers["Link"] = (
                f'</v2/{name}/tags/list?{urlencode({"n": limit, "last": tags[-1]})}>; rel="next"'
            )
        self._json(200, {"name": name, "tags": tags}, headers)

    def _manifest(self, name: str, reference: str) -> None:
        accept = ",".join(self.headers.get_all("Accept") or [])
        served = self.server.state.store.manifest(
            name, reference, OCI_INDEX in accept or DOCKER_LIST in accept
        )
        if served is None:
            return self._error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"Tag": reference})
        headers = {"Docker-Content-Digest": served.digest, "Content-Type": served.media_type}
        self._send(200, served.body, headers)

    def _blob(self, digest: str) -> None:
        body = self.server.state.store.blob(digest)
        if body is None:
            return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        self._send(200, body, {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"})

    # -- replies -------------------------------------------------------------------------------

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else None

    def _challenge(self, name: str | None) -> None:
        host = self.headers.get("Host") or "127.0.0.1"
        challenge = f'Bearer realm="http://{host}/v2/auth",service="{self.server.service}"'
        if name is not None:
            challenge += f',scope="repository:{name}:pull"'
        self._error(401, "UNAUTHORIZED", "authentication required", None, {"WWW-Authenticate": challenge})

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        detail: object = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._json(status, {"errors": [{"code": code, "message": message, "detail": detail}]}, headers)

    def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._send(status, data, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
