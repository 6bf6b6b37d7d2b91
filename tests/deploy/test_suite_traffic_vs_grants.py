"""Everything the bot sent to the sandboxes during the whole test run against what deploy/ grants it.

Kubernetes: every request of the bot's client is allowed by the rendered Role, and (whole suite only)
every grant of the Role was used. Slack: every Web API method the bot called is in
deploy/slack-scopes.yaml, and (whole suite only) every bot scope of the app manifest is needed by a
called method. The record and the "whole suite" rule are in tests/suite_record.py; these tests run last.

The bot's requests are those of its client libraries (User-Agent of the official `kubernetes` client,
of `slack_sdk`; kubectl and raw httpx are other clients), except while tests/sandbox/ runs: those tests
drive the simulators with the same libraries, or with `KubeClient` on names of their own. Evidence that
a grant is *used* also leaves out tests/deploy/, whose Role test calls every `KubeClient` method by
hand: a grant must be used by the bot's real flows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pytest
import yaml

from sandbox.slack.server import APP_TOKEN_METHODS
from tests.deploy.manifests import DEPLOY, OPENSHIFT_OVERLAY, KubectlMissing, by_kind, load, render
from tests.deploy.rbac import PolicyRule, RequestAttributes, allowed, grants, request_attributes, role_rules
from tests.suite_record import KUBE_LOG_ENV, SLACK_LOG_ENV, SUITE_RECORD, SUITE_WIDE, Sent, SuiteRecord

pytestmark = [pytest.mark.kubectl, pytest.mark.suite_wide]

KUBE_CLIENT_AGENT = "OpenAPI-Generator/"  # the official client: OpenAPI-Generator/<version>/python
SLACK_CLIENT_AGENT = " slackclient/"  # slack_sdk: Python/<version> slackclient/<version> <OS>
NOT_THE_BOT = ("tests/sandbox/",)
NOT_EVIDENCE_OF_USE = (*NOT_THE_BOT, "tests/deploy/")
SLACK_SCOPES = DEPLOY / "slack-scopes.yaml"
SLACK_MANIFEST = DEPLOY / "slack-app-manifest.yaml"


@pytest.fixture(scope="module")
def record(request: pytest.FixtureRequest) -> SuiteRecord:
    return request.config.stash[SUITE_RECORD]


@pytest.fixture(scope="module")
def rules() -> list[PolicyRule]:
    try:
        (role,) = by_kind(render(OPENSHIFT_OVERLAY), "Role")
    except KubectlMissing:
        pytest.skip("kubectl (kustomize) is not on PATH")
    return role_rules(role)


def _whole_suite_or_skip(record: SuiteRecord) -> None:
    reasons = record.not_whole_suite()
    if reasons:
        pytest.skip("run the whole suite (" + "; ".join(reasons) + ")")


def _by_the_bot(sent: Iterable[Sent], agent: str, leave_out: tuple[str, ...]) -> list[Sent]:
    """The requests whose User-Agent has `agent`, but none sent while a test under `leave_out` ran."""
    return [s for s in sent if agent in s.user_agent and not s.test.startswith(leave_out)]


def _kube_requests(record: SuiteRecord, leave_out: tuple[str, ...]) -> dict[RequestAttributes, str]:
    """The RBAC attributes of the bot's resource requests → the first test that sent each."""
    first: dict[RequestAttributes, str] = {}
    for sent in _by_the_bot(record.sent(KUBE_LOG_ENV), KUBE_CLIENT_AGENT, leave_out):
        r = sent.record
        attrs = request_attributes(str(r["method"]), str(r["path"]), dict(r.get("query") or {}))
        if attrs is not None:  # discovery and /version are open to every authenticated user
            first.setdefault(attrs, sent.test)
    return first


def _slack_methods(record: SuiteRecord, leave_out: tuple[str, ...]) -> dict[str, str]:
    """The Web API methods the bot called → the first test that called each."""
    first: dict[str, str] = {}
    for sent in _by_the_bot(record.sent(SLACK_LOG_ENV), SLACK_CLIENT_AGENT, leave_out):
        first.setdefault(str(sent.record["method"]), sent.test)
    return first


def _scope_table() -> dict[str, Any]:
    table: dict[str, Any] = yaml.safe_load(SLACK_SCOPES.read_text())
    return table


def _scopes_by_api_method() -> dict[str, set[str]]:
    scopes: dict[str, set[str]] = defaultdict(set)
    for entry in _scope_table()["methods"].values():
        for api in entry["api"]:
            scopes[api] |= set(entry["scopes"])
    return dict(scopes)


def _summary(requests: dict[RequestAttributes, str]) -> list[str]:
    """One line per verb and resource: a few of the object names, and the first test that sent one."""
    names: dict[str, list[str]] = defaultdict(list)
    first: dict[str, str] = {}
    for attrs, test in requests.items():
        what = f"{attrs.verb} {attrs.api_group or 'core'}/{attrs.resource_path}"
        names[what] += [attrs.name] if attrs.name else []
        first.setdefault(what, test)
    return [
        what + (f" {sorted(names[what])[:3]!r}" if names[what] else "") + f"  (first by {first[what]})"
        for what in sorted(first)
    ]


# -- Kubernetes ---------------------------------------------------------------------------------------


def test_the_role_allows_every_request_the_bot_sent_during_the_run(
    record: SuiteRecord, rules: list[PolicyRule]
) -> None:
    sent = _kube_requests(record, NOT_THE_BOT)
    if not sent:
        pytest.skip("no Kubernetes request of the bot was recorded: run it with the tests that drive the bot")
    cluster_wide = _summary({a: test for a, test in sent.items() if not a.namespace})
    assert cluster_wide == [], "a Role is namespaced: it cannot grant these cluster-wide requests"
    refused = _summary({a: test for a, test in sent.items() if not allowed(rules, a)})
    assert refused == [], "deploy/'s Role refuses these requests of the bot:\n  " + "\n  ".join(refused)


def test_every_grant_of_the_role_is_used_by_the_bot_during_the_whole_suite(
    record: SuiteRecord, rules: list[PolicyRule]
) -> None:
    _whole_suite_or_skip(record)
    sent = list(_kube_requests(record, NOT_EVIDENCE_OF_USE))
    unused = sorted(
        f"{verb} {group or 'core'}/{resource}" + (f" {name!r}" if name else "")
        for (group, resource, verb, name) in grants(rules)
        if not any(
            a.api_group == group
            and a.resource_path == resource
            and a.verb == verb
            and (not name or a.name == name)
            for a in sent
        )
    )
    assert unused == [], "the Role grants what no test of the bot used:\n  " + "\n  ".join(unused)


# -- Slack --------------------------------------------------------------------------------------------


def test_every_slack_method_the_bot_called_during_the_run_has_its_scopes_listed(record: SuiteRecord) -> None:
    called = _slack_methods(record, NOT_THE_BOT)
    if not called:
        pytest.skip("no Slack call of the bot was recorded: run it with the tests that drive the bot")
    # Socket Mode's apps.connections.open runs with the app-level token (connections:write, see README).
    listed = set(_scopes_by_api_method()) | APP_TOKEN_METHODS
    unlisted = sorted(
        f"{method}  (first by {test})" for method, test in called.items() if method not in listed
    )
    assert unlisted == [], f"add these methods and their scopes to {SLACK_SCOPES.name}:\n  " + "\n  ".join(
        unlisted
    )


def test_every_bot_scope_of_the_app_manifest_is_needed_by_a_call_of_the_whole_suite(
    record: SuiteRecord,
) -> None:
    _whole_suite_or_skip(record)
    scopes_of = _scopes_by_api_method()
    needed = {
        scope for method in _slack_methods(record, NOT_EVIDENCE_OF_USE) for scope in scopes_of.get(method, ())
    }
    features = {scope for entry in _scope_table()["features"].values() for scope in entry["scopes"]}
    (manifest,) = load(SLACK_MANIFEST)
    asked = set(manifest["oauth_config"]["scopes"]["bot"])
    unused = sorted(asked - needed - features)
    assert unused == [], "the app manifest asks for scopes no call of the bot needed: " + ", ".join(unused)


def test_these_checks_run_after_every_other_test(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    first_suite_wide = next(i for i, item in enumerate(items) if item.get_closest_marker(SUITE_WIDE))
    assert all(item.get_closest_marker(SUITE_WIDE) for item in items[first_suite_wide:])
