"""`logs <component> [--tail N] [--grep RE] [--container C] [--previous]`: the logs of every pod.

Replaces `oc logs`: all pods of the component's Deployment (not just one), each line prefixed by its
pod, optionally filtered by a regular expression (RE2, linear time: `grep.py`), the last N lines per
pod. Short output is a result section; long output is a file (the summary keeps the last lines).
Secrets are redacted by the bot, which passes every message and file through one redactor; this
module returns the text as read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, field_validator

from commands.clients.kube_errors import KubeError
from commands.cluster.grep import MAX_PATTERN_LENGTH, GrepPatternError, LineMatcher, compile_grep
from commands.cluster.pods import pods_of
from commands.contract import (
    Args,
    Event,
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    ResultFile,
    Section,
    shown_as,
)
from commands.environment import Component, ComponentName, Environment

MAX_TAIL = 5000
GREP_SCAN_LINES = 20000  # with --grep, this many lines per pod are searched
MAX_GREP_LENGTH = MAX_PATTERN_LENGTH
INLINE_LIMIT = 2500  # characters of log text shown in the message itself
SUMMARY_LINES = 20  # the last lines shown in the message when the logs go to a file
CONTAINER_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class LogsArgs(Args):
    """`logs <component> [--tail N] [--grep RE] [--container C] [--previous]`."""

    positional = ("component",)

    component: ComponentName
    tail: int = Field(default=100, ge=1, le=MAX_TAIL, json_schema_extra=shown_as("N"))
    grep: str | None = Field(
        default=None, min_length=1, max_length=MAX_GREP_LENGTH, json_schema_extra=shown_as("RE")
    )
    container: str | None = Field(
        default=None, max_length=63, pattern=CONTAINER_NAME, json_schema_extra=shown_as("C")
    )
    previous: bool = False

    @field_validator("grep")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        """A pattern RE2 runs within its limits (`commands.cluster.grep`); else the reason."""
        if value is not None:
            try:
                compile_grep(value)
            except GrepPatternError as exc:
                raise ValueError(f"--grep refused: {exc}") from None
        return value


def _containers(pod: dict[str, Any]) -> tuple[list[str], list[str]]:
    spec = pod.get("spec") or {}
    mains = [str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict)]
    inits = [str(c.get("name")) for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    return mains, inits


def _pod_name(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name") or "?")


def _valid_names(pods: list[dict[str, Any]]) -> str:
    mains: list[str] = []
    inits: list[str] = []
    for pod in pods:
        m, i = _containers(pod)
        mains += [n for n in m if n not in mains]
        inits += [n for n in i if n not in inits]
    return ", ".join([*mains, *(f"{n} (init)" for n in inits)])


def _describe(component: Component, container: str, args: LogsArgs) -> str:
    words = f"{component.name} ({container}"
    if args.previous:
        words += ", previous run"
    return words + ")"


def select_lines(text: str, matches: LineMatcher | None, tail: int) -> list[str]:
    """The log's lines (those `matches` accepts, when given), the last `tail` of them."""
    lines = [line.rstrip("\r") for line in text.splitlines()]
    if matches is not None:
        lines = [line for line in lines if matches(line)]
    return lines[-tail:]


class LogsOperation(Operation[LogsArgs]):
    """Show the logs of every pod of a LiteMaaS component (last lines, optionally filtered)."""

    name = "logs"
    args_model = LogsArgs
    mutating = False
    default_role = "viewer"
    default_approval = False

    def execute(self, env: Environment, args: LogsArgs, plan: Plan | None = None) -> Iterator[Event]:
        """Read each pod's log of the chosen container; yield a progress per pod, then the Result."""
        try:
            component = env.component(args.component)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        container = args.container or component.container
        what = _describe(component, container, args)
        target = f"deployment/{component.deployment}"

        try:
            deployment = env.kube.get_deployment(component.deployment)
            pods = pods_of(env.kube, deployment)
        except KubeError as exc:
            yield Result(ok=False, summary=f"Cannot list the pods of {component.name} ({target}): {exc}")
            return
        if not pods:
            replicas = (deployment.get("spec") or {}).get("replicas", 1)
            yield Result(
                ok=True,
                summary=f"{component.name} has no pods ({target} wants {replicas} replicas): no logs to show",
            )
            return

        having = {_pod_name(p) for p in pods if container in [*_containers(p)[0], *_containers(p)[1]]}
        if not having:
            yield Result(
                ok=False,
                summary=f"the pods of {component.name} have no container {container!r}; "
                f"choose one of: {_valid_names(pods)}",
            )
            return

        pattern = compile_grep(args.grep) if args.grep else None
        fetch = GREP_SCAN_LINES if pattern is not None else args.tail
        lines: list[str] = []
        counts: dict[str, int] = {}
        notes: list[str] = []
        for done, pod in enumerate(pods):
            name = _pod_name(pod)
            if name not in having:
                notes.append(f"{name}: no container {container!r}")
                continue
            yield Progress(f"Reading the logs of {name} ({container})", done=done, total=len(pods))
            try:
                text = env.kube.read_pod_log(name, container, tail_lines=fetch, previous=args.previous)
            except KubeError as exc:
                if exc.status == 400:  # not started yet, no previous run: said by the API server
                    notes.append(f"{name}: {exc.message}")
                    continue
                yield Result(ok=False, summary=f"Cannot read the logs of {name} ({container}): {exc}")
                return
            selected = select_lines(text, pattern, args.tail)
            counts[name] = len(selected)
            lines.extend(f"{name} | {line}" for line in selected)

        yield self._result(component, what, args, lines, counts, notes)

    @staticmethod
    def _result(
        component: Component,
        what: str,
        args: LogsArgs,
        lines: list[str],
        counts: dict[str, int],
        notes: list[str],
    ) -> Result:
        """Inline section when short, else a summary section plus the whole text as a file."""
        matching = f" matching {args.grep!r}" if args.grep else ""
        pods = len(counts)
        summary = f"{len(lines)} log line{'s' if len(lines) != 1 else ''} of {what}{matching}"
        summary += f" from {pods} pod{'s' if pods != 1 else ''}"
        per_pod = (
            f"last {args.tail} per pod (of the last {GREP_SCAN_LINES} searched)"
            if args.grep
            else f"last {args.tail} per pod"
        )
        if not lines:
            detail = Section(title=f"logs {what}", lines=tuple(notes) or ("(no lines)",))
            return Result(ok=True, summary=summary, sections=(detail,))

        text = "\n".join(lines)
        if len(text) <= INLINE_LIMIT:
            title = f"logs {what}{matching}, {per_pod}"
            sections = [Section(title=title, lines=tuple(lines))]
            if notes:
                sections.append(Section(title="not read", lines=tuple(notes)))
            return Result(ok=True, summary=summary, sections=tuple(sections))

        overview = Section(
            title=f"logs {what}{matching}, {per_pod}: full text in the file",
            fields={name: f"{n} lines" for name, n in list(counts.items())[:9]}
            | ({"more pods": str(pods - 9)} if pods > 9 else {}),
            lines=tuple(notes),
        )
        tail = Section(
            title=f"last {min(SUMMARY_LINES, len(lines))} lines", lines=tuple(lines[-SUMMARY_LINES:])
        )
        file = ResultFile(
            filename=f"{component.name}-logs.txt",
            title=f"logs {component.name} ({len(lines)} lines)",
            content=text + "\n",
        )
        return Result(ok=True, summary=summary, sections=(overview, tail), files=(file,))
