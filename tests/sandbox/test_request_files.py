"""The sandboxes' optional request files: one JSON line per request with the client's User-Agent,
never a token or an argument, and a file that cannot be written never fails the request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from slack_sdk import WebClient

from sandbox.kube import KubeSandbox
from sandbox.kube.recording import REQUEST_LOG_ENV
from sandbox.slack import SlackSandbox
from sandbox.slack.calls import CALL_LOG_ENV

BOT_TOKEN = "xoxb-request-file-test"


@pytest.fixture
def kube_sandbox() -> Iterator[KubeSandbox]:
    sandbox = KubeSandbox(namespace="litellm-rhpds", seed=True).start()
    yield sandbox
    sandbox.stop()


def _core(sandbox: KubeSandbox, tmp_path: Path) -> client.CoreV1Api:
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(sandbox.write_kubeconfig(tmp_path / "kubeconfig")),
        client_configuration=configuration,
        persist_config=False,
    )
    return client.CoreV1Api(client.ApiClient(configuration))


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_kube_requests_are_appended_with_the_client_user_agent(
    kube_sandbox: KubeSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "kube.jsonl"
    monkeypatch.setenv(REQUEST_LOG_ENV, str(log))
    core = _core(kube_sandbox, tmp_path)
    core.list_namespaced_pod("litellm-rhpds", label_selector="app=litellm")
    core.read_namespaced_secret("litellm-secret", "litellm-rhpds")

    lines = _lines(log)
    assert [(line["method"], line["path"]) for line in lines] == [
        ("GET", "/api/v1/namespaces/litellm-rhpds/pods"),
        ("GET", "/api/v1/namespaces/litellm-rhpds/secrets/litellm-secret"),
    ]
    assert lines[0]["query"] == {"labelSelector": "app=litellm"}
    assert all(str(line["user_agent"]).startswith("OpenAPI-Generator/") for line in lines)
    assert kube_sandbox.requests[-1].user_agent == lines[-1]["user_agent"]
    assert "token" not in log.read_text().lower()


def test_slack_web_api_calls_are_appended_without_arguments_or_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "slack.jsonl"
    monkeypatch.setenv(CALL_LOG_ENV, str(log))
    with SlackSandbox(bot_token=BOT_TOKEN) as slack:
        web = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
        web.chat_postMessage(channel="C0OPS", text="hello from the file test")
        web.auth_test()

    lines = _lines(log)
    assert [line["method"] for line in lines] == ["chat.postMessage", "auth.test"]
    assert all(" slackclient/" in str(line["user_agent"]) for line in lines)
    assert set(lines[0]) == {"method", "user_agent"}
    assert BOT_TOKEN not in log.read_text() and "hello" not in log.read_text()


def test_an_unwritable_request_file_never_fails_the_request(
    kube_sandbox: KubeSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUEST_LOG_ENV, str(tmp_path))  # a directory: every append fails
    pods = _core(kube_sandbox, tmp_path).list_namespaced_pod("litellm-rhpds")
    assert pods.items, "the request is answered as usual"
    assert kube_sandbox.requests[-1].path == "/api/v1/namespaces/litellm-rhpds/pods"
