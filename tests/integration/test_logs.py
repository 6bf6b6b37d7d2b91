"""`logs` against the Kubernetes sandbox over HTTP, through the real `kubernetes` client.

Log lines are scripted per pod and container with `sb.set_logs`; bad input goes through the bot's
parser, which is what a user typing `/maas logs …` meets.
"""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from bot.parsing import ParseError, parse_command
from commands.clients.kube import KubeClient
from commands.cluster.logs import LogsArgs, LogsOperation
from commands.contract import Event, Progress, Result
from commands.environment import DEFAULT_COMPONENTS, Environment
from commands.registry import default_registry
from tests.integration.conftest import NAMESPACE

COMPONENTS = list(DEFAULT_COMPONENTS)


@pytest.fixture
def env(kube: KubeClient) -> Environment:
    return Environment(name="test", namespace=NAMESPACE, kube=kube, litellm_redis_ping=lambda: True)


def run(env: Environment, text: str) -> Result:
    """Parse `/maas <text>` as the bot does, execute, return the one Result (after only Progress)."""
    parsed = parse_command(text, default_registry(), components=COMPONENTS)
    assert parsed.operation is LogsOperation
    events: list[Event] = list(LogsOperation().execute(env, parsed.args, None))  # type: ignore[arg-type]
    assert events and isinstance(events[-1], Result), events
    assert all(isinstance(e, Progress) for e in events[:-1]), events
    return events[-1]


def pods(sb: Any, deployment: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in sb.pods_of(deployment))


def scale(sb: Any, kube: KubeClient, deployment: str, replicas: int) -> list[str]:
    kube.patch_scale(deployment, replicas)
    sb.settle()
    names = pods(sb, deployment)
    assert len(names) == replicas
    return names


# -- reading ---------------------------------------------------------------------------------------


def test_logs_of_every_pod_are_prefixed_by_the_pod(sb: Any, kube: KubeClient, env: Environment) -> None:
    first, second = scale(sb, kube, "litellm", 2)
    sb.set_logs(first, "litellm", ["booting", "ready on :4000"])
    sb.set_logs(second, "litellm", ["booting", "GET /health/readiness 200"])

    result = run(env, "logs litellm")

    assert result.ok, result
    assert result.files == ()
    [section] = result.sections
    assert section.lines == (
        f"{first} | booting",
        f"{first} | ready on :4000",
        f"{second} | booting",
        f"{second} | GET /health/readiness 200",
    )
    assert result.summary == "4 log lines of litellm (litellm) from 2 pods"
    log_reads = [r for r in sb.requests if r.path.endswith("/log")]
    assert {r.query.get("container") for r in log_reads} == {"litellm"}
    assert {r.query.get("tailLines") for r in log_reads} == {"100"}


def test_tail_keeps_the_last_lines_of_each_pod(sb: Any, kube: KubeClient, env: Environment) -> None:
    first, second = scale(sb, kube, "litellm", 2)
    sb.set_logs(first, "litellm", [f"a{i}" for i in range(10)])
    sb.set_logs(second, "litellm", [f"b{i}" for i in range(10)])

    result = run(env, "logs litellm --tail 3")

    assert result.sections[0].lines == tuple(
        [f"{first} | a{i}" for i in (7, 8, 9)] + [f"{second} | b{i}" for i in (7, 8, 9)]
    )


def test_grep_filters_before_the_tail(sb: Any, env: Environment) -> None:
    [pod] = pods(sb, "litellm")
    sb.set_logs(
        pod,
        "litellm",
        [
            "Applying migration 001_init",
            "INFO: request",
            "Applying migration 002_keys",
            "ERROR: migration 003_budget failed",
            "INFO: request",
        ],
    )

    result = run(env, "logs litellm --grep migrat --tail 2")

    assert result.ok
    assert result.sections[0].lines == (
        f"{pod} | Applying migration 002_keys",
        f"{pod} | ERROR: migration 003_budget failed",
    )
    assert result.summary == "2 log lines of litellm (litellm) matching 'migrat' from 1 pod"


def test_grep_with_no_match_says_so(sb: Any, env: Environment) -> None:
    result = run(env, "logs backend --grep 'no such text'")

    assert result.ok
    assert result.summary.startswith("0 log lines of backend (backend) matching 'no such text'")


def test_the_main_container_is_the_default_and_init_containers_can_be_chosen(
    sb: Any, env: Environment
) -> None:
    [pod] = pods(sb, "litellm-backend")
    sb.set_logs(pod, "backend", ["backend line"])
    sb.set_logs(pod, "run-migrations", ["Running database migrations...", "applied 3"])

    main = run(env, "logs backend")
    init = run(env, "logs backend --container run-migrations")

    assert main.sections[0].lines == (f"{pod} | backend line",)
    assert init.sections[0].lines == (
        f"{pod} | Running database migrations...",
        f"{pod} | applied 3",
    )
    assert "backend (run-migrations)" in init.summary


def test_an_unknown_container_names_the_valid_ones(sb: Any, env: Environment) -> None:
    result = run(env, "logs frontend --container nginx")

    assert not result.ok
    assert result.summary == (
        "the pods of frontend have no container 'nginx'; "
        "choose one of: frontend, copy-custom-logos (init), wait-for-backend (init)"
    )
    assert not [r for r in sb.requests if r.path.endswith("/log")]


def test_previous_reads_the_previous_run_and_notes_pods_without_one(
    sb: Any, kube: KubeClient, env: Environment
) -> None:
    first, second = scale(sb, kube, "litellm", 2)
    sb.set_logs(first, "litellm", ["current run"])
    sb.set_logs(first, "litellm", ["before the OOM kill", "Killed"], previous=True)

    result = run(env, "logs litellm --previous")

    assert result.ok
    assert result.sections[0].lines == (f"{first} | before the OOM kill", f"{first} | Killed")
    assert result.sections[1].title == "not read"
    [note] = result.sections[1].lines
    assert note.startswith(f"{second}: ") and "previous terminated container" in note
    assert "previous run" in result.summary
    assert all(r.query.get("previous") in {"true", "True"} for r in sb.requests if r.path.endswith("/log"))


def test_long_output_becomes_a_file_with_a_short_summary(sb: Any, kube: KubeClient, env: Environment) -> None:
    first, second = scale(sb, kube, "litellm", 2)
    sb.set_logs(first, "litellm", [f"first line {i:04d} " + "x" * 60 for i in range(400)])
    sb.set_logs(second, "litellm", [f"second line {i:04d} " + "y" * 60 for i in range(400)])

    result = run(env, "logs litellm --tail 300")

    assert result.ok
    [file] = result.files
    assert file.filename == "litellm-logs.txt"
    assert file.title == "logs litellm (600 lines)"
    content = file.content.splitlines()
    assert len(content) == 600
    assert content[0] == f"{first} | first line 0100 " + "x" * 60
    assert content[-1] == f"{second} | second line 0399 " + "y" * 60
    overview, tail = result.sections
    assert overview.fields == {first: "300 lines", second: "300 lines"}
    assert tail.lines == tuple(content[-20:])
    assert sum(len(line) for s in result.sections for line in s.lines) < 3000


def test_a_component_without_pods_is_a_clear_message(sb: Any, kube: KubeClient, env: Environment) -> None:
    scale(sb, kube, "litellm", 0)

    result = run(env, "logs litellm")

    assert result.ok
    assert result.summary == "litellm has no pods (deployment/litellm wants 0 replicas): no logs to show"
    assert result.sections == () and result.files == ()


# -- failures --------------------------------------------------------------------------------------


def test_an_api_failure_reading_a_log_is_a_failed_result(sb: Any, env: Environment) -> None:
    sb.inject_error("GET", r"/pods/[^/]+/log$", 500, "kubelet: connection reset")

    result = run(env, "logs redis")

    assert not result.ok
    assert "kubelet: connection reset" in result.summary
    assert result.summary.startswith("Cannot read the logs of litellm-redis-")


def test_a_forbidden_pod_list_is_a_failed_result(sb: Any, env: Environment) -> None:
    sb.inject_error("GET", r"/pods$", 403, 'pods is forbidden: User "bot" cannot list resource "pods"')

    result = run(env, "logs litellm")

    assert not result.ok
    assert result.summary.startswith("Cannot list the pods of litellm (deployment/litellm): ")
    assert "forbidden" in result.summary


# -- bad input -------------------------------------------------------------------------------------


BAD_INPUT = [
    ("logs litellm --grep (", "--grep refused: invalid pattern: missing ): ("),
    ("logs litellm --tail 0", "--tail must be a whole number from 1 to 5000 (got '0')"),
    ("logs litellm --tail 100000", "--tail must be a whole number from 1 to 5000 (got '100000')"),
    ("logs litellm --tail lots", "--tail must be a whole number from 1 to 5000 (got 'lots')"),
    ("logs litellm --grep " + "a" * 201, "--grep must be at most 200 characters long"),
    ("logs litellm --container 'Bad Name!'", "--container has an invalid format"),
    ("logs postgres", "unknown component `postgres`"),
    ("logs", "missing <component>"),
]


@pytest.mark.parametrize(("text", "message"), BAD_INPUT)
def test_bad_input_is_a_clear_message_and_reads_nothing(sb: Any, text: str, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(text, default_registry(), components=COMPONENTS)

    assert message in caught.value.message
    assert caught.value.usage == "/maas logs <component> [--tail N] [--grep RE] [--container C] [--previous]"
    assert sb.requests == [] and sb.writes() == []


def test_args_model_defaults_and_bounds() -> None:
    args = LogsArgs.model_validate({"component": "LiteLLM"}, context={"components": COMPONENTS})
    assert (args.component, args.tail, args.grep, args.container, args.previous) == (
        "litellm",
        100,
        None,
        None,
        False,
    )
    assert LogsArgs.model_validate({"component": "litellm", "tail": "5000"}).tail == 5000
    with pytest.raises(pydantic.ValidationError):
        LogsArgs.model_validate({"component": "litellm", "tail": "5001"})
    assert LogsOperation.name == "logs" and not LogsOperation.mutating
    assert LogsOperation.default_role == "viewer" and not LogsOperation.default_approval
