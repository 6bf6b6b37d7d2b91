"""HTTP transport: maps Kubernetes API paths onto `Cluster`, answers JSON (or text logs, or chunked
watch streams), records every request and plays injected errors.

Standard library only (`ThreadingHTTPServer`); HTTP/1.1 keep-alive with Nagle disabled, so each
response goes out at once (see kube-api-surface.md §4, "Transport").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.http_base import DispatchingHandler, QuietThreadingServer
from sandbox.kube import resources
from sandbox.kube.cluster import Cluster, parse_bool
from sandbox.kube.errors import ApiError
from sandbox.kube.recording import RecordedRequest, RequestLog

log = logging.getLogger(__name__)

JSON = "application/json"


@dataclass
class Reply:
    """A complete response."""

    code: int
    body: bytes
    content_type: str = JSON


@dataclass
class Stream:
    """A chunked response (watch events or followed logs)."""

    chunks: Iterator[bytes]
    content_type: str = JSON


def _json(code: int, body: Any) -> Reply:
    return Reply(code, json.dumps(body).encode())


def _not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource")


class ApiRouter:
    """Request → `Reply`/`Stream`; raises `ApiError` for every client-visible failure."""

    def __init__(self, cluster: Cluster, server_address: str) -> None:
        self.cluster = cluster
        self.server_address = server_address

    def handle(
        self, method: str, path: str, query: dict[str, str], content_type: str | None, body: bytes
    ) -> Reply | Stream:
        parts = [p for p in path.split("/") if p]
        if method == "GET":
            static = self._static(parts)
            if static is not None:
                return static
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _not_found()
        namespace: str | None = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        rt = resources.find(group, version, rest[0], self.cluster.openshift) if rest else None
        if rt is None or len(rest) > 3:
            raise _not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise _not_found()
        verb = _verb(method, name, query)
        if not rt.allows(verb):
            raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")
        dry_run = query.get("dryRun") == "All"
        if name is None:
            return self._collection(rt, namespace, method, query, content_type, body, dry_run)
        if namespace is None:
            raise _not_found()
        return self._item(rt, namespace, name, sub, method, query, content_type, body, dry_run)

    def _static(self, parts: list[str]) -> Reply | None:
        if parts == ["version"]:
            return _json(200, resources.VERSION_INFO)
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return Reply(200, b"ok", "text/plain")
        if parts == ["api"]:
            return _json(200, resources.api_versions(self.server_address))
        if parts == ["apis"]:
            return _json(200, resources.api_group_list(self.cluster.openshift))
        if len(parts) == 4 and parts[:3] == ["api", "v1", "namespaces"]:
            return _json(
                200,
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": parts[3]},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )
        doc: dict[str, Any] | None = None
        if parts == ["api", "v1"]:
            doc = resources.resource_list("", "v1", self.cluster.openshift)
        elif len(parts) == 2 and parts[0] == "apis":
            doc = resources.api_group(parts[1], self.cluster.openshift)
        elif len(parts) == 3 and parts[0] == "apis":
            doc = resources.resource_list(parts[1], parts[2], self.cluster.openshift)
        else:
            return None
        if doc is None:
            raise _not_found()
        return _json(200, doc)

    def _collection(
        self,
        rt: resources.ResourceType,
        namespace: str | None,
        method: str,
        query: dict[str, str],
        content_type: str | None,
        body: bytes,
        dry_run: bool,
    ) -> Reply | Stream:
        if method == "GET":
            if parse_bool(query.get("watch"), "watch"):
                events = self.cluster.watch(rt, namespace, query)
                return Stream(json.dumps(e).encode() + b"\n" for e in events)
            selectors = query.get("labelSelector"), query.get("fieldSelector")
            return _json(200, self.cluster.list(rt, namespace, *selectors))
        if method == "POST" and namespace is not None:
            created = self.cluster.create(rt, namespace, _json_body(content_type, body), dry_run=dry_run)
            return _json(201, created)
        raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")

    def _item(
        self,
        rt: resources.ResourceType,
        namespace: str,
        name: str,
        sub: str | None,
        method: str,
        query: dict[str, str],
        content_type: str | None,
        body: bytes,
        dry_run: bool,
    ) -> Reply | Stream:
        c = self.cluster
        if sub == "log":
            if method != "GET":
                raise ApiError(405, "the server does not allow this method on the requested resource")
            text = c.read_log(rt, namespace, name, query).encode()
            if parse_bool(query.get("follow"), "follow"):
                return Stream(iter([text] if text else []), "text/plain")
            return Reply(200, text, "text/plain")
        if sub == "scale":
            if method == "GET":
                return _json(200, c.get_scale(rt, namespace, name))
            if method == "PUT":
                return _json(
                    200,
                    c.write_scale(rt, namespace, name, body=_json_body(content_type, body), dry_run=dry_run),
                )
            if method == "PATCH":
                return _json(
                    200,
                    c.write_scale(
                        rt, namespace, name, content_type=_patch_type(content_type), raw=body, dry_run=dry_run
                    ),
                )
        else:
            status_only = sub == "status"
            if method == "GET":
                if parse_bool(query.get("watch"), "watch"):
                    q = dict(query, fieldSelector=f"metadata.name={name}")
                    return Stream(json.dumps(e).encode() + b"\n" for e in c.watch(rt, namespace, q))
                return _json(200, c.get(rt, namespace, name))
            if method == "PUT":
                obj, created = c.put(
                    rt,
                    namespace,
                    name,
                    _json_body(content_type, body),
                    status_only=status_only,
                    dry_run=dry_run,
                )
                return _json(201 if created else 200, obj)
            if method == "PATCH":
                obj = c.patch(
                    rt,
                    namespace,
                    name,
                    _patch_type(content_type),
                    body,
                    status_only=status_only,
                    dry_run=dry_run,
                )
                return _json(200, obj)
            if method == "DELETE" and not status_only:
                return _json(200, c.delete(rt, namespace, name, dry_run=dry_run))
        raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")


def _verb(method: str, name: str | None, query: dict[str, str]) -> str:
    """The API verb of a request, as discovery names it (get/list/watch/create/update/patch/delete)."""
    if method == "GET":
        if query.get("watch") not in (None, "", "0", "f", "F", "false", "False", "FALSE"):
            return "watch"
        return "get" if name is not None else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def _json_body(content_type: str | None, body: bytes) -> Any:
    """POST/PUT bodies: JSON, and a missing Content-Type means JSON (kubectl and the v37 client)."""
    media = (content_type or JSON).split(";")[0].strip().lower()
    if media not in (JSON, "*/*"):
        raise ApiError(
            415, f"the body of the request was in an unknown format - accepted media types include: {JSON}"
        )
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise ApiError(400, f"the body of the request is not valid JSON: {exc}") from None


def _patch_type(content_type: str | None) -> str:
    if not content_type:
        raise ApiError(
            415, "a PATCH request needs a Content-Type (json-patch, merge-patch or strategic-merge-patch)"
        )
    return content_type


class SandboxHTTPServer(QuietThreadingServer):
    """The listening server (see `QuietThreadingServer`: daemon handlers, open connections dropped
    at close, as a stopped API server does)."""

    def __init__(self, address: tuple[str, int], cluster: Cluster, requests: RequestLog) -> None:
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        self.router = ApiRouter(cluster, f"{host!s}:{port}")
        self.requests = requests


class _Handler(DispatchingHandler):
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kube sandbox: " + format, *args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            body = self._read_body()
        except ValueError:
            self._send(_json(400, ApiError(400, "malformed request body").status()))
            return
        content_type = self.headers.get("Content-Type")
        self.server.requests.record(
            RecordedRequest(
                self.command,
                split.path,
                query,
                content_type,
                body.decode("utf-8", "replace"),
                self.headers.get("User-Agent"),
            )
        )
        injected = self.server.requests.take_error(self.command, split.path)
        reply: Reply | Stream
        if injected is not None:
            reply = _json(injected.status, ApiError(injected.status, injected.message).status())
        else:
            try:
                reply = self.server.router.handle(self.command, split.path, query, content_type, body)
            except ApiError as err:
                reply = _json(err.code, err.status())
            except Exception:
                log.exception("kube sandbox: internal error on %s %s", self.command, split.path)
                reply = _json(500, ApiError(500, "internal error in the kube sandbox").status())
        if isinstance(reply, Stream):
            self._stream(reply)
        else:
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.code)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _stream(self, stream: Stream) -> None:
        self.send_response(200)
        self.send_header("Content-Type", stream.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            for chunk in stream.chunks:
                self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(stream.chunks, "close", None)
            if close is not None:
                close()
