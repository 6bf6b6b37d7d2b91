"""`POST /alerts/alertmanager`: Prometheus Alertmanager's webhook (payload version 4) into the alert pipeline.

One Alertmanager group (its `groupKey`) is one alert: a "firing" notification fires (posts or edits) it,
a "resolved" one resolves it. Requests need `Authorization: Bearer <ALERTMANAGER_TOKEN>`; bad input is
answered 4xx with a reason and changes nothing; a failing pipeline is answered 503 so Alertmanager retries.

Alertmanager never retries a 4xx, so a storm is not refused: a group of more than MAX_ALERTS alerts is
accepted and posted with its first MAX_ALERTS (firing ones first), saying how many were left out. Only a
body over MAX_BODY_BYTES is refused (413): set `max_alerts` in Alertmanager's webhook_config so that it
never sends one (it then counts the rest in `truncatedAlerts`, which the message shows too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

import psycopg
import pydantic_core
import redis
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from slack_sdk.errors import SlackClientError

from bot.alerts.model import Alert, Severity
from bot.alerts.pipeline import AlertNotDelivered
from commands.text import clip

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

PATH = "/alerts/alertmanager"
SOURCE = "alertmanager"
FINGERPRINT_PREFIX = "alertmanager:"

# Limits: far above what a sane Alertmanager group sends, far below what could hurt the bot.
MAX_BODY_BYTES = 4 * 1024 * 1024  # the hard ceiling (413 above): ~4,000 alerts of 1 KB
MAX_ALERTS = 200  # alerts of a group kept; the others are counted as left out
MAX_LABELS = 64  # per label or annotation map
MAX_NAME_CHARS = 128  # a label or annotation name
MAX_LABEL_VALUE_CHARS = 1024
MAX_ANNOTATION_VALUE_CHARS = 8192
MAX_GROUP_KEY_CHARS = 4096
MAX_URL_CHARS = 4096
MAX_REASON_CHARS = 300
_REASONS_SHOWN = 3

# What the Slack message shows.
MAX_DETAIL_LINES = 10
MAX_DESCRIPTION_CHARS = 200
MAX_TITLE_CHARS = 150
MAX_TITLE_ALERTNAMES = 3
_SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
_COMPONENT_LABELS = ("component", "service", "job")
_DETAIL_LABELS_HIDDEN = frozenset({"alertname", "severity"})
_DIGITS = re.compile(r"[0-9]{1,12}")

# Failures of the pipeline's peers (Slack, Redis, PostgreSQL, the network): answered 503, logged briefly.
_EXPECTED_SINK_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    redis.RedisError,
    psycopg.Error,
    SlackClientError,
    AlertNotDelivered,
)


class AlertSink(Protocol):
    """Where alerts go: the bot's alert pipeline (one Slack message per fingerprint)."""

    def fire(self, alert: Alert) -> None:
        """Post the alert, or edit its message when it changed; nothing when it is unchanged."""

    def resolve(self, fingerprint: str) -> None:
        """Mark the alert resolved in Slack; nothing for an unknown or already resolved fingerprint."""


class AlertmanagerPayloadError(ValueError):
    """The request body is not an acceptable Alertmanager notification; `str()` says why (no values)."""


# --- the payload ---------------------------------------------------------------------------------------

_Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)]
_LabelValue = Annotated[str, StringConstraints(max_length=MAX_LABEL_VALUE_CHARS)]
_AnnotationValue = Annotated[str, StringConstraints(max_length=MAX_ANNOTATION_VALUE_CHARS)]
_Labels = Annotated[dict[_Name, _LabelValue], Field(max_length=MAX_LABELS)]
_Annotations = Annotated[dict[_Name, _AnnotationValue], Field(max_length=MAX_LABELS)]
_Url = Annotated[str, StringConstraints(max_length=MAX_URL_CHARS)]
Status = Literal["firing", "resolved"]


class _Strict(BaseModel):
    # strict: no "1" for 1 or 1 for "1"; unknown fields are ignored (newer Alertmanagers may add some)
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", populate_by_name=False)


class AlertmanagerAlert(_Strict):
    """One alert of the group, as Alertmanager sends it."""

    status: Status
    labels: _Labels
    annotations: _Annotations = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: _Url = Field(default="", alias="generatorURL")
    fingerprint: Annotated[str, StringConstraints(max_length=64)] = ""


class AlertmanagerNotification(_Strict):
    """The webhook body (version 4): a group of alerts sharing the route's grouping labels."""

    version: Literal["4"]
    group_key: Annotated[str, StringConstraints(min_length=1, max_length=MAX_GROUP_KEY_CHARS)] = Field(
        alias="groupKey"
    )
    truncated_alerts: Annotated[int, Field(ge=0)] = Field(default=0, alias="truncatedAlerts")
    status: Status
    receiver: Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS * 4)]
    group_labels: _Labels = Field(default_factory=dict, alias="groupLabels")
    common_labels: _Labels = Field(default_factory=dict, alias="commonLabels")
    common_annotations: _Annotations = Field(default_factory=dict, alias="commonAnnotations")
    external_url: _Url = Field(default="", alias="externalURL")
    alerts: Annotated[list[AlertmanagerAlert], Field(min_length=1)]

    @property
    def fingerprint(self) -> str:
        """The bot's identity of this group: stable across notifications, reveals nothing of the key."""
        return FINGERPRINT_PREFIX + hashlib.sha256(self.group_key.encode()).hexdigest()[:16]


class AlertmanagerPayloadTooLarge(AlertmanagerPayloadError):
    """The body is over MAX_BODY_BYTES: refused unread (413)."""


def parse_notification(body: bytes) -> AlertmanagerNotification:
    """The notification in `body` (a storm cut to MAX_ALERTS alerts), or AlertmanagerPayloadError naming
    the first bad field (never a value)."""
    if len(body) > MAX_BODY_BYTES:
        raise AlertmanagerPayloadTooLarge(TOO_LARGE)
    try:
        return AlertmanagerNotification.model_validate_json(_within_max_alerts(body))
    except ValidationError as exc:
        raise AlertmanagerPayloadError(_reason(exc)) from None


TOO_LARGE = (
    f"payload too large (more than {MAX_BODY_BYTES} bytes): "
    "set max_alerts in Alertmanager's webhook_config for this receiver"
)


def _within_max_alerts(body: bytes) -> bytes:
    """`body` itself, or, for a group of more than MAX_ALERTS alerts, the group with its first MAX_ALERTS
    (firing first) and the others added to `truncatedAlerts` (Alertmanager's own count of left-outs)."""
    try:
        data = pydantic_core.from_json(body)
    except ValueError:
        return body  # the validation says what is wrong with it
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, list) or len(alerts) <= MAX_ALERTS:
        return body
    firing_first = sorted(alerts, key=lambda a: not (isinstance(a, dict) and a.get("status") == "firing"))
    data["alerts"] = firing_first[:MAX_ALERTS]
    truncated = data.get("truncatedAlerts", 0)
    if isinstance(truncated, int) and not isinstance(truncated, bool):
        data["truncatedAlerts"] = truncated + len(alerts) - MAX_ALERTS
    return json.dumps(data).encode()


def _reason(exc: ValidationError) -> str:
    """'alerts.0.labels.job: Input should be a valid string' for the first few errors, and how many more."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts: list[str] = []
    for error in errors[:_REASONS_SHOWN]:
        if error["type"] == "json_invalid":
            parts.append(f"body is not valid JSON ({error['msg'].removeprefix('Invalid JSON: ')})")
        elif error["type"] == "model_type" and not error["loc"]:
            parts.append("body must be a JSON object")
        else:
            where = ".".join(str(part) for part in error["loc"]) or "body"
            parts.append(f"{where}: {error['msg']}")
    reason = "; ".join(parts) or "invalid payload"
    if len(errors) > _REASONS_SHOWN:
        reason += f" (and {len(errors) - _REASONS_SHOWN} more)"
    return clip(reason, MAX_REASON_CHARS)


# --- the mapping ---------------------------------------------------------------------------------------


def to_alert(notification: AlertmanagerNotification) -> Alert:
    """The pipeline's alert for a group: title, severity and component from the common labels."""
    firing = [a for a in notification.alerts if a.status == "firing"] or list(notification.alerts)
    return Alert(
        fingerprint=notification.fingerprint,
        severity=_severity(notification.common_labels, firing),
        component=_component(notification.common_labels),
        title=_title(notification, firing),
        details=_details(notification, firing),
        source=SOURCE,
        labels=tuple(sorted((notification.group_labels or notification.common_labels).items())),
    )


def _severity(common_labels: dict[str, str], firing: list[AlertmanagerAlert]) -> Severity:
    """The group's `severity` label; when its alerts differ, the gravest they name; else "warning"."""
    if "severity" in common_labels:
        return _known_severity(common_labels["severity"]) or "warning"
    named = {_known_severity(a.labels.get("severity", "")) for a in firing}
    return next((severity for severity in _SEVERITIES if severity in named), "warning")


def _known_severity(value: str) -> Severity | None:
    lowered = value.strip().lower()
    return next((severity for severity in _SEVERITIES if severity == lowered), None)


def _component(common_labels: dict[str, str]) -> str:
    for name in _COMPONENT_LABELS:
        value = common_labels.get(name, "").strip()
        if value:
            return clip(value, MAX_NAME_CHARS)
    return "prometheus"


def _title(notification: AlertmanagerNotification, firing: list[AlertmanagerAlert]) -> str:
    summary = " ".join(notification.common_annotations.get("summary", "").split())
    if summary:
        return clip(summary, MAX_TITLE_CHARS)
    names = list(dict.fromkeys(a.labels["alertname"] for a in firing if a.labels.get("alertname")))
    if not names and notification.group_labels.get("alertname"):
        names = [notification.group_labels["alertname"]]
    if not names:
        return "Alertmanager alert"
    title = ", ".join(names[:MAX_TITLE_ALERTNAMES])
    if len(names) > MAX_TITLE_ALERTNAMES:
        title += f" and {len(names) - MAX_TITLE_ALERTNAMES} more"
    return clip(title, MAX_TITLE_CHARS)


def _details(notification: AlertmanagerNotification, firing: list[AlertmanagerAlert]) -> tuple[str, ...]:
    """One line per alert (name, the labels that set it apart, its description), at most ten and a tally."""
    common = notification.common_labels
    lines = [_detail_line(alert, common) for alert in firing[:MAX_DETAIL_LINES]]
    hidden = len(firing) - len(lines) + notification.truncated_alerts
    if hidden > 0:
        lines.append(f"and {hidden} more not shown")
    resolved = sum(1 for a in notification.alerts if a.status == "resolved")
    if notification.status == "firing" and resolved:
        lines.append(f"{resolved} of this group resolved")
    return tuple(lines)


def _detail_line(alert: AlertmanagerAlert, common_labels: dict[str, str]) -> str:
    name = alert.labels.get("alertname", "alert")
    distinct = [
        f"{key}={value}"
        for key, value in sorted(alert.labels.items())
        if key not in _DETAIL_LABELS_HIDDEN and common_labels.get(key) != value
    ]
    line = name + (f" ({', '.join(distinct)})" if distinct else "")
    description = " ".join(alert.annotations.get("description", "").split())
    if description:
        line += ": " + clip(description, MAX_DESCRIPTION_CHARS)
    return line


# --- the WSGI endpoint ---------------------------------------------------------------------------------


class _Reject(Exception):
    """An HTTP refusal: status line, reason shown to the caller, extra headers."""

    def __init__(self, status: str, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class AlertmanagerReceiver:
    """WSGI app for Alertmanager's webhook; replies are JSON, never 5xx for bad input.

    Without a token configured every request is refused with 401 (fail closed): Alertmanager logs the
    401 as an authorization problem, which points the operator at ALERTMANAGER_TOKEN, and the endpoint
    looks the same to an outsider whether or not it is configured.
    """

    def __init__(self, token: str | None, sink: AlertSink) -> None:
        self._token = token.encode() if token else None
        self._sink = sink
        if self._token is None:
            log.info("ALERTMANAGER_TOKEN is not set: %s refuses every request", PATH)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            if environ.get("REQUEST_METHOD", "") != "POST":
                raise _Reject("405 Method Not Allowed", "only POST", (("Allow", "POST"),))
            self._authorize(environ)
            notification = self._notification(environ)
        except _Reject as rejected:
            return _reply(start_response, rejected.status, {"error": rejected.reason}, rejected.headers)
        return self._deliver(notification, start_response)

    def _authorize(self, environ: WSGIEnvironment) -> None:
        challenge = (("WWW-Authenticate", 'Bearer realm="alertmanager"'),)
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, credentials = header.strip().partition(" ")
        if self._token is None or scheme.lower() != "bearer":
            raise _Reject("401 Unauthorized", "unauthorized", challenge)
        try:
            given = credentials.strip().encode("latin-1")  # WSGI headers are latin-1 decoded bytes
        except UnicodeEncodeError:
            raise _Reject("401 Unauthorized", "unauthorized", challenge) from None
        if not hmac.compare_digest(given, self._token):
            log.warning("%s: refused a request whose credentials do not match ALERTMANAGER_TOKEN", PATH)
            raise _Reject("401 Unauthorized", "unauthorized", challenge)

    def _notification(self, environ: WSGIEnvironment) -> AlertmanagerNotification:
        raw_length = str(environ.get("CONTENT_LENGTH", "") or "").strip()
        if not raw_length:
            raise _Reject("411 Length Required", "Content-Length is required")
        if not _DIGITS.fullmatch(raw_length):
            raise _Reject("400 Bad Request", "Content-Length is not a number")
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            raise _Reject("413 Payload Too Large", TOO_LARGE)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            return parse_notification(body)
        except AlertmanagerPayloadError as exc:
            log.warning("%s: rejected a notification: %s", PATH, exc)
            raise _Reject("400 Bad Request", str(exc)) from None

    def _deliver(self, notification: AlertmanagerNotification, start_response: StartResponse) -> list[bytes]:
        fingerprint = notification.fingerprint
        try:
            if notification.status == "firing":
                self._sink.fire(to_alert(notification))
            else:
                self._sink.resolve(fingerprint)
        except _EXPECTED_SINK_ERRORS as exc:
            log.warning("%s: could not deliver %s: %s", PATH, fingerprint, type(exc).__name__)
            return _unavailable(start_response)
        except Exception:
            log.exception("%s: delivering %s failed unexpectedly", PATH, fingerprint)
            return _unavailable(start_response)
        action = "fired" if notification.status == "firing" else "resolved"
        log.info("%s: %s %s (%d alerts)", PATH, action, fingerprint, len(notification.alerts))
        return _reply(start_response, "200 OK", {"status": action, "fingerprint": fingerprint})


def _unavailable(start_response: StartResponse) -> list[bytes]:
    reason = "could not deliver the alert to Slack now; retry later"
    return _reply(start_response, "503 Service Unavailable", {"error": reason}, (("Retry-After", "10"),))


def _reply(
    start_response: StartResponse,
    status: str,
    body: dict[str, str],
    headers: tuple[tuple[str, str], ...] = (),
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers]
    )
    return [data]
