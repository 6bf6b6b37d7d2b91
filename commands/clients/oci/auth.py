"""Registry authentication: the `WWW-Authenticate` challenge and the credentials of a pull secret.

quay.io and Docker Hub answer an anonymous `/v2/` request with `401` and `WWW-Authenticate: Bearer
realm=…,service=…,scope=…`; the client then asks the realm for a token (anonymously, or with the pull
secret's user and password as basic credentials). Other registries challenge with `Basic`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from commands.clients.oci.reference import DOCKER_HUB, DOCKER_HUB_ALIASES

_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header: `bearer` or `basic`, with its parameters."""

    scheme: str
    params: dict[str, str]


@dataclass(frozen=True)
class Credentials:
    """A user and password for one registry (from a dockerconfigjson pull secret). Never shown."""

    username: str
    password: str

    def basic_header(self) -> str:
        """`Basic base64(user:password)`, for a basic challenge or a token realm."""
        pair = f"{self.username}:{self.password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


def parse_challenge(header: str | None) -> Challenge | None:
    """`Bearer realm="https://quay.io/v2/auth",service="quay.io"` → Challenge; None when absent."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def _registry_key(key: str) -> str:
    """A dockerconfigjson `auths` key as a registry host: "https://index.docker.io/v1/" → "docker.io"."""
    text = key.strip()
    host = urlsplit(text).netloc if "://" in text else text.split("/", 1)[0]
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def _entry_credentials(entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("username") and entry.get("password"):
        return Credentials(str(entry["username"]), str(entry["password"]))
    encoded = entry.get("auth")
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return Credentials(user, password) if sep and user else None


def dockerconfig_credentials(data: dict[str, str], registry: str) -> Credentials | None:
    """The credentials for `registry` in a pull secret's decoded data (`.dockerconfigjson`, or the
    older `.dockercfg` whose top level is the `auths` map); None when it has none for that host."""
    for key, wrapped in ((".dockerconfigjson", True), (".dockercfg", False)):
        raw = data.get(key)
        if not raw:
            continue
        try:
            parsed = json.loads(raw)
        except ValueError:
            continue
        auths = parsed.get("auths") if wrapped and isinstance(parsed, dict) else parsed
        if not isinstance(auths, dict):
            continue
        for name, entry in auths.items():
            if _registry_key(str(name)) == registry:
                found = _entry_credentials(entry)
                if found is not None:
                    return found
    return None
