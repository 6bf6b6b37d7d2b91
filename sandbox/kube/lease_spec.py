"""What the API server does to a Lease's spec on every write: decode, validate, normalise.

`acquireTime` and `renewTime` are `metav1.MicroTime`: the server parses them with the layout
`2006-01-02T15:04:05.000000Z07:00` (exactly six fractional digits; "…:05Z" or "…:05+00:00" is a
400) and serves them back in UTC with six digits. The integer fields are int32; validation (422)
wants `leaseDurationSeconds` > 0 and `leaseTransitions` >= 0.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sandbox.kube.errors import ApiError

MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
TIME_FIELDS = ("acquireTime", "renewTime")
_MICRO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(?:Z|([+-])(\d{2}):(\d{2}))$"
)
_INT32_MAX = 2**31 - 1


def _json_kind(value: Any) -> str:
    """The JSON kind Go's decoder names in its errors ("string", "number", …)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _undecodable(detail: str) -> ApiError:
    return ApiError(400, f'Lease in version "v1" cannot be handled as a Lease: {detail}')


def parse_micro_time(value: str) -> datetime:
    """A MicroTime string as Go's `time.Parse(RFC3339Micro, …)` reads it; ValueError otherwise."""
    match = _MICRO_TIME.match(value)
    if match is None:
        raise ValueError(f'parsing time "{value}" as "{MICRO_LAYOUT}": not in that layout')
    year, month, day, hour, minute, second, micro = (int(g) for g in match.groups()[:7])
    offset = timedelta(0)
    if match.group(8):
        sign = 1 if match.group(8) == "+" else -1
        offset = sign * timedelta(hours=int(match.group(9)), minutes=int(match.group(10)))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))
    except ValueError as exc:
        raise ValueError(f'parsing time "{value}": {exc}') from None


def format_micro_time(moment: datetime) -> str:
    """How the server serialises a MicroTime: UTC, six fractional digits, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _int32(spec: dict[str, Any], key: str) -> int | None:
    value = spec.get(key)
    if value is None:
        spec.pop(key, None)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _INT32_MAX:
        raise _undecodable(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
            f"LeaseSpec.spec.{key} of type int32"
        )
    return value


def normalize(obj: dict[str, Any]) -> None:
    """Decode and validate `obj["spec"]` in place, as the server stores it; raises ApiError 400/422."""
    spec = obj.get("spec")
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise _undecodable("json: cannot unmarshal into Go struct field Lease.spec of type v1.LeaseSpec")
    for key in TIME_FIELDS:
        value = spec.get(key)
        if value is None:
            spec.pop(key, None)
            continue
        if not isinstance(value, str):
            raise _undecodable(f"json: cannot unmarshal {_json_kind(value)} into Go value of type string")
        try:
            spec[key] = format_micro_time(parse_micro_time(value))
        except ValueError as exc:
            raise _undecodable(str(exc)) from None
    for key in ("holderIdentity", "strategy", "preferredHolder"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise _undecodable(
                f"json: cannot unmarshal {_json_kind(spec[key])} into Go struct field "
                f"LeaseSpec.spec.{key} of type string"
            )
    name = obj.get("metadata", {}).get("name", "")
    problems: list[str] = []
    duration = _int32(spec, "leaseDurationSeconds")
    if duration is not None and duration <= 0:
        problems.append(f"spec.leaseDurationSeconds: Invalid value: {duration}: must be greater than 0")
    transitions = _int32(spec, "leaseTransitions")
    if transitions is not None and transitions < 0:
        problems.append(
            f"spec.leaseTransitions: Invalid value: {transitions}: must be greater than or equal to 0"
        )
    if problems:
        detail = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise ApiError(
            422,
            f'Lease.coordination.k8s.io "{name}" is invalid: {detail}',
            name=name,
            group="coordination.k8s.io",
            kind="Lease",
        )
