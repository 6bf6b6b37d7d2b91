"""Alertmanager webhook payloads: what is accepted, what is refused (and why), and the alert it becomes."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.alertmanager import (
    MAX_ALERTS,
    MAX_BODY_BYTES,
    MAX_DETAIL_LINES,
    MAX_LABEL_VALUE_CHARS,
    AlertmanagerPayloadError,
    parse_notification,
    to_alert,
)

GROUP_KEY = '{}/{severity="critical"}:{alertname="LiteLLMDown"}'


def member(name: str = "LiteLLMDown", status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", "job": "litellm", **labels},
        "annotations": {"description": f"{name} on {labels.get('instance', '?')} for 5 minutes"},
        "startsAt": "2025-03-16T15:00:00.123456789+02:00",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": "1a30ba71cca2921f",
    }


def notification(*alerts: dict[str, Any], status: str = "firing", **overrides: Any) -> dict[str, Any]:
    members = list(alerts) or [member(instance="litellm-0")]
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "chatops",
        "groupLabels": {"alertname": "LiteLLMDown"},
        "commonLabels": {"alertname": "LiteLLMDown", "severity": "critical", "job": "litellm"},
        "commonAnnotations": {"summary": "LiteLLM is down"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": members,
    }
    body.update(overrides)
    return body


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


def rejection(body: Any) -> str:
    with pytest.raises(AlertmanagerPayloadError) as caught:
        parse_notification(body if isinstance(body, bytes) else encode(body))
    return str(caught.value)


# --- accepted ------------------------------------------------------------------------------------------


def test_a_real_shaped_firing_group_becomes_one_alert() -> None:
    alert = to_alert(parse_notification(encode(notification())))
    expected = "alertmanager:" + hashlib.sha256(GROUP_KEY.encode()).hexdigest()[:16]
    assert alert.fingerprint == expected
    assert alert.severity == "critical"
    assert alert.component == "litellm"  # no component/service label: the job
    assert alert.title == "LiteLLM is down"
    assert alert.source == "alertmanager"
    assert alert.details == ("LiteLLMDown (instance=litellm-0): LiteLLMDown on litellm-0 for 5 minutes",)


def test_the_fingerprint_follows_the_group_key_only() -> None:
    first = parse_notification(encode(notification(member(instance="a"))))
    second = parse_notification(encode(notification(member(instance="a"), member(instance="b"))))
    other = parse_notification(encode(notification(groupKey='{}:{alertname="Other"}')))
    assert first.fingerprint == second.fingerprint
    assert first.fingerprint != other.fingerprint
    assert GROUP_KEY not in first.fingerprint


def test_unknown_fields_and_missing_optional_fields_are_accepted() -> None:
    body = notification(newField={"x": 1})
    for optional in ("truncatedAlerts", "groupLabels", "commonLabels", "commonAnnotations", "externalURL"):
        del body[optional]
    for key in ("annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"):
        del body["alerts"][0][key]
    alert = to_alert(parse_notification(encode(body)))
    assert alert.title == "LiteLLMDown"
    assert alert.severity == "critical"  # no common severity: the member's
    assert alert.component == "prometheus"


@pytest.mark.parametrize(
    ("labels", "severity", "component"),
    [
        ({"severity": "critical", "component": "backend", "service": "s", "job": "j"}, "critical", "backend"),
        ({"severity": "INFO", "service": "litemaas", "job": "j"}, "info", "litemaas"),
        ({"severity": "page", "job": "postgres"}, "warning", "postgres"),
        ({"severity": "", "component": "  "}, "warning", "prometheus"),
        ({}, "critical", "prometheus"),  # no common severity: the members' (critical)
    ],
)
def test_severity_and_component_come_from_the_common_labels(
    labels: dict[str, str], severity: str, component: str
) -> None:
    alert = to_alert(parse_notification(encode(notification(commonLabels=labels))))
    assert (alert.severity, alert.component) == (severity, component)


@pytest.mark.parametrize(
    ("severities", "expected"),
    [(["info", "critical", "warning"], "critical"), (["info", "bogus"], "info"), (["bogus", ""], "warning")],
)
def test_without_a_common_severity_the_gravest_member_severity_counts(
    severities: list[str], expected: str
) -> None:
    members = [member(instance=str(n), severity=value) for n, value in enumerate(severities)]
    body = notification(*members, commonLabels={"alertname": "LiteLLMDown"})
    assert to_alert(parse_notification(encode(body))).severity == expected


def test_without_a_summary_the_title_names_the_alerts() -> None:
    members = [member(name) for name in ("A", "B", "A", "C", "D", "E")]
    alert = to_alert(parse_notification(encode(notification(*members, commonAnnotations={}))))
    assert alert.title == "A, B, C and 2 more"


def test_details_are_capped_and_count_what_is_left_out() -> None:
    members = [member(instance=f"pod-{n:02d}") for n in range(15)]
    members.append(member(instance="pod-gone", status="resolved"))
    alert = to_alert(parse_notification(encode(notification(*members, truncatedAlerts=5))))
    assert len(alert.details) == 12
    assert alert.details[0].startswith("LiteLLMDown (instance=pod-00)")
    assert "pod-gone" not in "\n".join(alert.details)  # only what still fires is listed
    assert alert.details[10:] == (
        "and 10 more not shown",
        "1 of this group resolved",
    )  # 5 unlisted + 5 truncated


def test_long_descriptions_are_cut_in_details() -> None:
    long = member(instance="x")
    long["annotations"]["description"] = "word " * 500
    (line,) = to_alert(parse_notification(encode(notification(long)))).details
    assert len(line) < 260 and line.endswith("…")


def test_a_resolved_group_is_parsed_as_resolved() -> None:
    parsed = parse_notification(encode(notification(member(status="resolved"), status="resolved")))
    assert parsed.status == "resolved"


# --- refused -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.pop("groupKey"), "groupKey: Field required"),
        (lambda b: b.pop("alerts"), "alerts: Field required"),
        (lambda b: b.update(version="3"), "version: Input should be '4'"),
        (lambda b: b.update(version=4), "version: Input should be '4'"),
        (lambda b: b.update(status="pending"), "status: Input should be 'firing' or 'resolved'"),
        (lambda b: b.update(truncatedAlerts="0"), "truncatedAlerts: Input should be a valid integer"),
        (
            lambda b: b.update(truncatedAlerts=-1),
            "truncatedAlerts: Input should be greater than or equal to 0",
        ),
        (lambda b: b.update(alerts=[]), "alerts: List should have at least 1 item"),
        (lambda b: b.update(alerts={"a": 1}), "alerts: Input should be a valid array"),
        (lambda b: b.update(groupKey=""), "groupKey: String should have at least 1 character"),
        (lambda b: b["alerts"][0]["labels"].update(instance=5), "alerts.0.labels.instance: Input should be"),
        (lambda b: b["alerts"][0].pop("labels"), "alerts.0.labels: Field required"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt: Input should be a valid"),
        (lambda b: b["commonLabels"].update(severity=None), "commonLabels.severity: Input should be a valid"),
    ],
)
def test_a_wrong_field_is_refused_with_its_name(mutate: Any, reason: str) -> None:
    body = notification()
    mutate(body)
    assert rejection(body).startswith(reason)


def test_limits_are_refused_with_a_reason() -> None:
    too_long = notification(member(instance="x" * (MAX_LABEL_VALUE_CHARS + 1)))
    assert rejection(too_long).startswith("alerts.0.labels.instance: String should have at most 1024")
    many_labels = notification(member(**{f"l{n}": "v" for n in range(70)}))
    assert rejection(many_labels).startswith("alerts.0.labels: Dictionary should have at most 64 items")
    huge = notification(member(big="x" * (MAX_BODY_BYTES + 1)))
    assert rejection(huge).startswith(f"payload too large (more than {MAX_BODY_BYTES} bytes)")
    assert "max_alerts" in rejection(huge)


def test_a_storm_is_accepted_with_its_first_alerts_and_a_count_of_the_rest() -> None:
    """Alertmanager never retries a 4xx: a group of 1,000 alerts is posted cut, not refused."""
    resolved = [member(instance=f"old-{n}", status="resolved") for n in range(300)]
    firing = [member(instance=f"pod-{n:04d}") for n in range(700)]
    storm = notification(*resolved, *firing, truncatedAlerts=50)
    assert len(encode(storm)) > 256 * 1024  # over the old limit too
    parsed = parse_notification(encode(storm))
    assert len(parsed.alerts) == MAX_ALERTS
    assert all(a.status == "firing" for a in parsed.alerts)  # firing ones are kept first
    assert parsed.truncated_alerts == 50 + 1000 - MAX_ALERTS
    alert = to_alert(parsed)
    assert alert.details[MAX_DETAIL_LINES] == f"and {50 + 700 - MAX_DETAIL_LINES + 300} more not shown"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid JSON"),
        (b'{"version": "4",', "body is not valid JSON"),
        (b"[" * 10_000, "body is not valid JSON (recursion limit exceeded"),
        (b"[]", "body must be a JSON object"),
        (b'"4"', "body must be a JSON object"),
    ],
)
def test_non_objects_are_refused(body: bytes, reason: str) -> None:
    assert rejection(body).startswith(reason)


def test_reasons_never_echo_values() -> None:
    wrong = member()
    wrong["labels"]["instance"] = ["sk-live-secret-value-123"]
    body = notification(wrong, receiver={"token": "hunter2-secret"})
    reason = rejection(body)
    assert "receiver" in reason and "alerts.0.labels.instance" in reason
    assert "secret" not in reason and "sk-" not in reason


# --- property: nothing but a rejection, whatever arrives ------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
FIELD_PATHS = [
    ("version",),
    ("groupKey",),
    ("truncatedAlerts",),
    ("status",),
    ("receiver",),
    ("groupLabels",),
    ("commonLabels",),
    ("commonLabels", "severity"),
    ("commonAnnotations",),
    ("commonAnnotations", "summary"),
    ("externalURL",),
    ("alerts",),
    ("alerts", 0),
    ("alerts", 0, "status"),
    ("alerts", 0, "labels"),
    ("alerts", 0, "labels", "alertname"),
    ("alerts", 0, "annotations"),
    ("alerts", 0, "annotations", "description"),
    ("alerts", 0, "startsAt"),
    ("alerts", 0, "endsAt"),
    ("alerts", 0, "fingerprint"),
]


def _replace(body: dict[str, Any], path: tuple[str | int, ...], value: Any, delete: bool) -> None:
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


def _check(body: bytes) -> None:
    try:
        parsed = parse_notification(body)
    except AlertmanagerPayloadError as exc:
        assert 0 < len(str(exc)) <= 300
        return
    alert = to_alert(parsed)
    assert alert.fingerprint.startswith("alertmanager:") and len(alert.fingerprint) == 29
    assert alert.severity in ("critical", "warning", "info")
    assert alert.title and len(alert.title) <= 150
    assert len(alert.details) <= 12


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FIELD_PATHS), json_values, st.booleans()), min_size=1, max_size=4))
def test_mangled_payloads_only_ever_raise_the_rejection(changes: list[tuple[Any, Any, bool]]) -> None:
    body = copy.deepcopy(notification(member(instance="a"), member("Other", instance="b")))
    for path, value, delete in changes:
        try:
            _replace(body, path, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the parent: the payload stays as mangled as it is
    _check(encode(body))


@settings(max_examples=200, deadline=None)
@given(json_values | st.binary(max_size=64))
def test_arbitrary_bodies_only_ever_raise_the_rejection(value: Any) -> None:
    _check(value if isinstance(value, bytes) else encode(value))
