"""`POST /alerts/alertmanager` over real HTTP (waitress on loopback): auth, limits, bad input, delivery.

The sink here records what reaches it: it is the seam between the receiver and the alert pipeline.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from slack_bolt import App

from bot.alerts.alertmanager import MAX_BODY_BYTES, MAX_DETAIL_LINES, PATH, AlertmanagerReceiver
from bot.alerts.model import Alert
from bot.http import BotWsgiApp, HttpServer

TOKEN = "am-token-0123456789abcdef"
GROUP_KEY = '{}:{alertname="LiteLLMDown"}'


class RecordingSink:
    """Records fire/resolve calls; `failure` makes the next calls raise it (a pipeline peer being down)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failure: Exception | None = None
        self._lock = threading.Lock()

    def fire(self, alert: Alert) -> None:
        self._record("fire", alert)

    def resolve(self, fingerprint: str) -> None:
        self._record("resolve", fingerprint)

    def _record(self, kind: str, value: Any) -> None:
        if self.failure is not None:
            raise self.failure
        with self._lock:
            self.calls.append((kind, value))


def payload(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "chatops",
        "groupLabels": {"alertname": "LiteLLMDown"},
        "commonLabels": {"alertname": "LiteLLMDown", "severity": "critical", "component": "litellm"},
        "commonAnnotations": {"summary": "LiteLLM is down"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "LiteLLMDown",
                    "severity": "critical",
                    "component": "litellm",
                    **labels,
                },
                "annotations": {"description": "no ready pods"},
                "startsAt": "2025-03-16T15:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "1a30ba71cca2921f",
            }
        ],
    }


def _serve(receiver: AlertmanagerReceiver | None) -> HttpServer:
    bolt = App(token="xoxb-test", signing_secret="test-secret", token_verification_enabled=False)
    return HttpServer(BotWsgiApp(bolt, lambda: {"database": "ok"}, alertmanager=receiver), "127.0.0.1", 0, 4)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[HttpServer, RecordingSink]]:
    """One server for the module (stopping waitress takes a second); each test gets the sink emptied."""
    sink = RecordingSink()
    server = _serve(AlertmanagerReceiver(TOKEN, sink)).start()
    yield server, sink
    server.stop()


@pytest.fixture
def sink(served: tuple[HttpServer, RecordingSink]) -> RecordingSink:
    recording = served[1]
    recording.calls.clear()
    recording.failure = None
    return recording


@pytest.fixture
def client(served: tuple[HttpServer, RecordingSink], sink: RecordingSink) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0].url, timeout=10) as http:
        yield http


def post(client: httpx.Client, body: Any, token: str | None = TOKEN, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        PATH, content=content, headers={"Content-Type": "application/json", **headers}, **kwargs
    )


def still_serves(client: httpx.Client, sink: RecordingSink) -> None:
    before = len(sink.calls)
    response = post(client, payload(instance="after"))
    assert response.status_code == 200, response.text
    assert len(sink.calls) == before + 1


def test_firing_then_resolved_reach_the_sink(client: httpx.Client, sink: RecordingSink) -> None:
    fired = post(client, payload(instance="litellm-0"))
    assert fired.status_code == 200
    fingerprint = fired.json()["fingerprint"]
    assert fired.json() == {"status": "fired", "fingerprint": fingerprint}
    resolved = post(client, payload("resolved", instance="litellm-0"))
    assert resolved.json() == {"status": "resolved", "fingerprint": fingerprint}
    (kind, alert), second = sink.calls
    assert kind == "fire" and isinstance(alert, Alert)
    assert (alert.fingerprint, alert.severity, alert.component, alert.title, alert.source) == (
        fingerprint,
        "critical",
        "litellm",
        "LiteLLM is down",
        "alertmanager",
    )
    assert second == ("resolve", fingerprint)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer",
        f"Bearer  x{TOKEN}",
        "Bearer é".encode(),
    ],
)
def test_a_missing_or_wrong_token_is_refused(
    client: httpx.Client, sink: RecordingSink, authorization: str | bytes | None
) -> None:
    raw = authorization.encode() if isinstance(authorization, str) else authorization
    headers: dict[bytes, bytes] = {b"Authorization": raw} if raw is not None else {}
    response = client.post(PATH, content=json.dumps(payload()).encode(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"error": "unauthorized"}
    assert TOKEN not in response.text
    assert sink.calls == []
    still_serves(client, sink)


def test_the_scheme_word_is_case_insensitive(client: httpx.Client, sink: RecordingSink) -> None:
    response = client.post(
        PATH, content=json.dumps(payload()).encode(), headers={"Authorization": f"bearer {TOKEN}"}
    )
    assert response.status_code == 200
    assert len(sink.calls) == 1


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_configured_token_everything_is_refused(sink: RecordingSink, token: str | None) -> None:
    server = _serve(AlertmanagerReceiver(token, sink)).start()
    try:
        for authorization in ("Bearer", "Bearer None", "Bearer anything"):
            response = httpx.post(
                f"{server.url}/alerts/alertmanager",
                content=json.dumps(payload()).encode(),
                headers={"Authorization": authorization},
            )
            assert response.status_code == 401
    finally:
        server.stop()
    assert sink.calls == []


def test_without_a_receiver_the_path_is_not_found() -> None:
    server = _serve(None).start()
    try:
        response = httpx.post(f"{server.url}/alerts/alertmanager", content=b"{}")
        assert response.status_code == 404
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_only_post_is_allowed(client: httpx.Client, sink: RecordingSink, method: str) -> None:
    response = client.request(method, PATH, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert sink.calls == []


def _mutated(change: str) -> Any:
    body = payload(instance="litellm-0")
    if change == "missing groupKey":
        del body["groupKey"]
    elif change == "missing alerts":
        del body["alerts"]
    elif change == "status as a number":
        body["status"] = 1
    elif change == "label as a list":
        body["alerts"][0]["labels"]["instance"] = ["a"]
    elif change == "version 3":
        body["version"] = "3"
    elif change == "label value too long":
        body["alerts"][0]["labels"]["instance"] = "x" * 2000
    elif change == "1 MB of labels":
        body["alerts"][0]["labels"].update({f"label_{n}": "v" * 1000 for n in range(1000)})
    return body


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("missing groupKey", "groupKey: Field required"),
        ("missing alerts", "alerts: Field required"),
        ("status as a number", "status: Input should be 'firing' or 'resolved'"),
        ("label as a list", "alerts.0.labels.instance: Input should be a valid string"),
        ("version 3", "version: Input should be '4'"),
        ("label value too long", "alerts.0.labels.instance: String should have at most 1024 characters"),
        ("1 MB of labels", "alerts.0.labels: Dictionary should have at most 64 items"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(
    client: httpx.Client, sink: RecordingSink, change: str, reason: str
) -> None:
    response = post(client, _mutated(change))
    assert response.status_code == 400
    assert response.json()["error"].startswith(reason)
    assert sink.calls == []
    still_serves(client, sink)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b"\xff" * 10, b"[" * 50_000])
def test_bodies_that_are_not_a_json_object_are_refused(
    client: httpx.Client, sink: RecordingSink, body: bytes
) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(("body is not valid JSON", "body must be a JSON object"))
    assert sink.calls == []
    still_serves(client, sink)


def test_a_chunked_body_without_content_length_is_read_whole(
    client: httpx.Client, sink: RecordingSink
) -> None:
    """waitress de-chunks a request and sets Content-Length, so a streaming sender is served too."""
    data = json.dumps(payload()).encode()
    response = client.post(
        PATH,
        content=iter([data[:100], data[100:]]),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert len(sink.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [redis.ConnectionError("Error 111 connecting to redis:6379"), RuntimeError("a bug in the pipeline")],
)
def test_a_failing_sink_answers_503_so_alertmanager_retries(
    client: httpx.Client, sink: RecordingSink, failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    sink.failure = failure
    response = post(client, payload())
    assert response.status_code == 503
    assert response.json() == {"error": "could not deliver the alert to Slack now; retry later"}
    assert "redis:6379" not in response.text and "bug" not in response.text
    expected = isinstance(failure, redis.RedisError)
    records = [
        r for r in caplog.records if r.name == "bot.alerts.alertmanager" and "deliver" in r.getMessage()
    ]
    assert records and all((r.exc_info is None) == expected for r in records)
    sink.failure = None
    still_serves(client, sink)


def test_the_token_never_reaches_the_log(
    client: httpx.Client, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    post(client, payload())
    post(client, payload(), token=f"{TOKEN}-wrong")
    post(client, {"version": "4"})
    assert TOKEN not in caplog.text
    assert "do not match ALERTMANAGER_TOKEN" in caplog.text


def test_a_body_without_content_length_is_refused(client: httpx.Client, sink: RecordingSink) -> None:
    """A request that says nothing of its length (raw HTTP/1.1: clients always say it) gets 411."""
    host, port = str(client.base_url.host), client.base_url.port
    assert port is not None
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(request.encode())
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 411 ")
    assert b"Content-Length is required" in answer
    assert sink.calls == []
    still_serves(client, sink)


def test_a_storm_over_max_alerts_and_the_old_size_is_accepted_and_posted_cut(
    client: httpx.Client, sink: RecordingSink
) -> None:
    """Alertmanager never retries a 4xx: 1,500 alerts (~600 KB) are answered 2xx and delivered, cut."""
    body = payload()
    one = body["alerts"][0]
    body["alerts"] = [
        {
            **one,
            "labels": {**one["labels"], "instance": f"pod-{n:04d}"},
            "annotations": {"description": "d" * 200},
        }
        for n in range(1500)
    ]
    data = json.dumps(body).encode()
    assert 256 * 1024 < len(data) < MAX_BODY_BYTES
    response = post(client, data)
    assert response.status_code == 200, response.text
    [(kind, alert)] = sink.calls
    assert kind == "fire"
    assert alert.details[-1] == f"and {1500 - MAX_DETAIL_LINES} more not shown"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_hard_ceiling_is_413(
    client: httpx.Client, sink: RecordingSink, chunked: bool
) -> None:
    """waitress refuses it (its own limit is the largest route's): unread with a Content-Length, as soon
    as it grows past the limit when chunked."""
    data = b"x" * (MAX_BODY_BYTES + 1)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    content = iter([data[:1000], data[1000:]]) if chunked else data
    try:
        response = client.post(PATH, content=content, headers=headers)
    except httpx.WriteError:  # waitress answered and closed while the rest was still being sent
        response = None
    assert response is None or response.status_code == 413
    assert sink.calls == []
    still_serves(client, sink)
