"""A registry client for the OCI distribution API (httpx): manifests, digests and tags.

- `manifest(ref)`: `HEAD /v2/<name>/manifests/<ref>` asking for an OCI index, OCI manifest, Docker
  manifest list v2 or Docker manifest v2; the digest is `Docker-Content-Digest` (or the sha256 of the
  body of a GET when a registry leaves the header out of HEAD).
- `tags(registry, repository)`: `GET /v2/<name>/tags/list?n=…`, following `Link: <…>; rel="next"`.
- Authentication on a 401: the bearer-token challenge (anonymous or with pull-secret credentials as
  basic auth to the realm), or basic auth. Tokens are reused until they expire.
- `mirrors` maps a registry host to another base URL, optionally with a repository prefix
  (`{"quay.io": "http://127.0.0.1:5000/quay.io"}` asks `http://127.0.0.1:5000/v2/quay.io/<repo>/…`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from commands.clients.oci.auth import Challenge, Credentials, parse_challenge
from commands.clients.oci.reference import ImageReference

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LIST_TYPES = MANIFEST_TYPES[0], MANIFEST_TYPES[2]
PAGE_SIZE = 1000
MAX_PAGES = 50
DEFAULT_TOKEN_SECONDS = 60

ErrorKind = Literal["not_found", "unauthorized", "unreachable", "failed"]


class RegistryError(Exception):
    """A registry call that did not give an answer; `kind` says whether the thing is absent."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


@dataclass(frozen=True)
class Manifest:
    """What a manifest request told: its digest, media type and (for an index) the platforms."""

    digest: str
    media_type: str
    platforms: tuple[str, ...] = ()

    @property
    def is_list(self) -> bool:
        return self.media_type in LIST_TYPES


@dataclass(frozen=True)
class Endpoint:
    base: str
    repository: str


class RegistryClient:
    """Synchronous distribution-API calls; one `httpx.Client`, thread-safe token cache."""

    def __init__(
        self,
        mirrors: Mapping[str, str] | None = None,
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._mirrors = {k.lower(): v.rstrip("/") for k, v in (mirrors or {}).items()}
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}  # (host, scope, basic auth)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def endpoint(self, registry: str, repository: str) -> Endpoint:
        """Where the API of `registry` is asked, and the repository name as that endpoint knows it."""
        mirror = self._mirrors.get(registry)
        if mirror is None:
            host = "registry-1.docker.io" if registry == "docker.io" else registry
            return Endpoint(f"https://{host}", repository)
        parts = urlsplit(mirror)
        prefix = parts.path.strip("/")
        return Endpoint(
            f"{parts.scheme}://{parts.netloc}", f"{prefix}/{repository}" if prefix else repository
        )

    # -- calls -------------------------------------------------------------------------------------

    def manifest(self, ref: ImageReference, credentials: Credentials | None = None) -> Manifest:
        """The manifest `ref` names (HEAD, then GET when the digest header is missing)."""
        where = self.endpoint(ref.registry, ref.repository)
        url = f"{where.base}/v2/{where.repository}/manifests/{ref.reference}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        scope = f"repository:{where.repository}:pull"
        response = self._send("HEAD", url, scope, credentials, headers, str(ref))
        digest = response.headers.get("docker-content-digest", "")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if digest and media_type not in LIST_TYPES:
            return Manifest(digest, media_type)
        response = self._send("GET", url, scope, credentials, headers, str(ref))
        body = response.content
        digest = response.headers.get("docker-content-digest") or f"sha256:{hashlib.sha256(body).hexdigest()}"
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return Manifest(digest, media_type, _platforms(body) if media_type in LIST_TYPES else ())

    def tags(self, registry: str, repository: str, credentials: Credentials | None = None) -> list[str]:
        """Every tag of the repository, following `Link` pagination (at most MAX_PAGES pages)."""
        where = self.endpoint(registry, repository)
        scope = f"repository:{where.repository}:pull"
        url: str | None = f"{where.base}/v2/{where.repository}/tags/list?n={PAGE_SIZE}"
        found: list[str] = []
        shown = f"{registry}/{repository}"
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self._send("GET", url, scope, credentials, {"Accept": "application/json"}, shown)
            try:
                found.extend(str(t) for t in response.json().get("tags") or [])
            except (ValueError, AttributeError):
                raise RegistryError("failed", f"{shown}: the registry's tag list is not JSON") from None
            url = _next_link(response, url)
        return found

    # -- transport and authentication ---------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        scope: str,
        credentials: Credentials | None,
        headers: dict[str, str],
        shown: str,
    ) -> httpx.Response:
        host = urlsplit(url).netloc
        key = (host, scope, credentials.basic_header() if credentials else "")
        try:
            response = self._http.request(method, url, headers={**headers, **self._cached_auth(key)})
            if response.status_code == 401:
                auth = self._answer(
                    parse_challenge(response.headers.get("www-authenticate")), scope, credentials
                )
                if auth is not None:
                    response = self._http.request(method, url, headers={**headers, **auth})
                    if "Bearer" in auth.get("Authorization", ""):
                        self._remember(key, auth["Authorization"])
        except httpx.TransportError as exc:
            raise RegistryError(
                "unreachable", f"{host} could not be reached ({type(exc).__name__})"
            ) from None
        return _checked(response, shown, credentials is not None)

    def _cached_auth(self, key: tuple[str, str, str]) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(key)
        if token is None or token[1] <= time.monotonic():
            return {}
        return {"Authorization": token[0]}

    def _remember(self, key: tuple[str, str, str], header: str) -> None:
        with self._lock:
            self._tokens[key] = (header, time.monotonic() + DEFAULT_TOKEN_SECONDS - 5)

    def _answer(
        self, challenge: Challenge | None, scope: str, credentials: Credentials | None
    ) -> dict[str, str] | None:
        """The Authorization header answering a challenge, or None when it cannot be answered."""
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return {"Authorization": credentials.basic_header()} if credentials else None
        if challenge.scheme != "bearer" or not challenge.params.get("realm"):
            return None
        params = {"scope": challenge.params.get("scope") or scope}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        realm = challenge.params["realm"]
        headers = {"Authorization": credentials.basic_header()} if credentials else {}
        response = self._http.get(realm, params=params, headers=headers)
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        return {"Authorization": f"Bearer {token}"} if token else None


def _checked(response: httpx.Response, shown: str, with_credentials: bool) -> httpx.Response:
    status = response.status_code
    if status < 300:
        return response
    if status == 404:
        raise RegistryError("not_found", f"{shown} was not found (HTTP 404{_error_code(response)})")
    if status in (401, 403):
        who = "the pull secret's credentials" if with_credentials else "anonymous access"
        raise RegistryError("unauthorized", f"{shown}: the registry refused {who} (HTTP {status})")
    if status == 429:
        raise RegistryError("unreachable", f"{shown}: the registry is rate-limiting requests (HTTP 429)")
    if status >= 500:
        raise RegistryError("unreachable", f"{shown}: the registry failed (HTTP {status})")
    raise RegistryError("failed", f"{shown}: the registry answered HTTP {status}{_error_code(response)}")


def _error_code(response: httpx.Response) -> str:
    """`: MANIFEST_UNKNOWN` from a distribution error body, when there is one."""
    try:
        errors = response.json().get("errors") or []
        return f": {errors[0]['code']}" if errors and errors[0].get("code") else ""
    except (ValueError, AttributeError, KeyError, TypeError, IndexError):
        return ""


def _next_link(response: httpx.Response, current: str) -> str | None:
    """The `rel="next"` target of a `Link` header, resolved against the current URL."""
    for part in response.headers.get("link", "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") and target.strip().startswith("<"):
            return str(urljoin(current, target.strip()[1:-1]))
    return None


def _platforms(body: bytes) -> tuple[str, ...]:
    try:
        manifests = json.loads(body).get("manifests") or []
    except (ValueError, AttributeError):
        return ()
    shown = []
    for entry in manifests:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if isinstance(platform, dict) and platform.get("os"):
            shown.append(f"{platform['os']}/{platform.get('architecture', '?')}")
    return tuple(shown)
