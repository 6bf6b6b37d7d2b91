"""The environments file (validated with file and line), `--env` in a command's text, and the choice of
environment per command: a mutating command never runs in more than one, never in an unnamed one when
several are served."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.access import AccessConfigError, AccessControl, load_access_config
from bot.environments import (
    Choice,
    EnvironmentsConfigError,
    EnvironmentSet,
    UnknownEnvironment,
    load_environments,
    split_env,
)
from commands.environment import Environment


def env(name: str) -> Environment:
    return Environment(name=name, namespace=f"litellm-{name}", kube=None, litellm_redis_ping=lambda: True)  # type: ignore[arg-type]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_bad_environments_file_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "environments.yaml",
        "environments:\n  dev:\n    namespace: litellm-dev\n"
        "  prod:\n    namespace: Bad_NS\n    colour: red\n",
    )
    with pytest.raises(EnvironmentsConfigError) as caught:
        load_environments(path)
    message = str(caught.value)
    assert "environments.yaml:5:" in message and "DNS-1123" in message
    assert "environments.yaml:6: unknown key 'colour'" in message


def test_two_environments_on_one_namespace_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "envs.yaml", "environments:\n  a:\n    namespace: x\n  b:\n    namespace: x\n")
    with pytest.raises(EnvironmentsConfigError, match=r"envs.yaml:5: environment 'b' has the same"):
        load_environments(path)


def test_the_access_file_names_only_known_environments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "access.yaml",
        "channels: [C0OPS]\nroles:\n  operator: {users: [U0BOB], environments: [dev, prd]}\n"
        "channel_environments: {C0PROD: prod}\n",
    )
    with pytest.raises(AccessConfigError, match=r"access.yaml:3: unknown environment 'prd'"):
        load_access_config(path, ["scale"], known_environments=["dev", "prod"])


def test_grants_and_policy_are_scoped_to_environments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "access.yaml",
        "channels: [C0OPS]\nroles:\n  admin: {users: [U0ZED], environments: [dev]}\n"
        "  viewer: {users: [U0ZED]}\n"
        "policy: {scale: {role: operator}}\n"
        "environment_policy: {prod: {scale: {role: admin, approval: true}}}\n",
    )
    access = AccessControl(load_access_config(path, ["scale"], ["dev", "prod"]), groups=None)  # type: ignore[arg-type]
    assert access.caller("U0ZED", "dev").role == "admin"
    assert access.caller("U0ZED", "prod").role == "viewer"  # a dev admin is not a prod admin
    assert access.policy("scale", "operator", False, "dev").approval is False
    assert access.policy("scale", "operator", False, "prod").approval is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scale litellm 3 --env prod", ("prod", "scale litellm 3")),
        ("--env=dev status", ("dev", "status")),
        ("status", (None, "status")),
        ("scale litellm 3 --env", ("", "scale litellm 3")),
        ("logs litellm --grep --envy", (None, "logs litellm --grep --envy")),
    ],
)
def test_split_env(text: str, expected: tuple[str | None, str]) -> None:
    assert split_env(text) == expected


def test_unknown_names_get_did_you_mean() -> None:
    envs = EnvironmentSet([env("dev"), env("prod")], from_file=True)
    with pytest.raises(UnknownEnvironment, match=r"did you mean `prod`"):
        envs.choose("prdo", None, mutating=False)


NAMES = ["dev", "stage", "prod"]


@given(
    count=st.integers(1, 3),
    named=st.sampled_from([None, "", *NAMES, "nope"]),
    bound=st.sampled_from([None, *NAMES]),
    mutating=st.booleans(),
)
def test_a_mutating_command_runs_in_exactly_one_environment_it_named(
    count: int, named: str | None, bound: str | None, mutating: bool
) -> None:
    served = EnvironmentSet([env(n) for n in NAMES[:count]], from_file=count > 1)
    try:
        choice = served.choose(named, bound if bound in served.names else None, mutating=mutating)
    except UnknownEnvironment:
        assert named not in served.names
        return
    if isinstance(choice, str):  # refused: say why, naming the way out
        assert "--env" in choice or "bound" in choice
        return
    assert isinstance(choice, Choice)
    if mutating:
        assert len(choice.environments) == 1
        assert choice.named or not served.several  # no naked command where several are served
    if named:
        assert [e.name for e in choice.environments] == [named]


@given(name=st.text(max_size=300))
def test_any_typed_name_is_an_environment_or_a_plain_refusal(name: str) -> None:
    served = EnvironmentSet([env("dev"), env("prod")], from_file=True)
    try:
        choice = served.choose(name, None, mutating=True)
    except UnknownEnvironment as exc:
        message = str(exc)
        assert len(message) < 400 and not any(ord(c) < 32 for c in message)
        return
    assert isinstance(choice, str) or [e.name for e in choice.environments] == [name]
