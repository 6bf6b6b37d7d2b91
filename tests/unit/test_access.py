"""The access file loads as documented, bad files name their line, and users resolve to the right role.

The user-group cache tests use the real local Redis (private key prefix per test); Slack's
`usergroups_users_list` is stood in for by a plain function, the seam `GroupDirectory` takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.access import (
    AccessConfig,
    AccessConfigError,
    AccessControl,
    Caller,
    GroupDirectory,
    Policy,
    load_access_config,
)
from bot.locks import redis_client

# product.md §3, verbatim.
PRODUCT_EXAMPLE = """\
channels: [C0OPS]                     # commands accepted here (read-only ones also in DMs)
roles:                                # viewer ⊂ operator ⊂ admin
  admin:    {users: [U0ALICE], groups: [S0SRE]}
  operator: {users: [U0BOB]}
  viewer:   {users: [U0CAROL]}
approvers: {users: [U0ALICE, U0DAVE], groups: []}
approval: {ttl_minutes: 30, allow_self_approval: false}
policy:                               # overrides of the default table in §2
  scale: {role: operator, approval: true}
  keys cleanup: {role: operator, approval: true}
"""
DEAD_PORT = 1  # nothing listens there: "Redis is down"
KNOWN_COMMANDS = {"help", "whoami", "status", "scale", "upgrade", "restart", "keys cleanup", "keys stats"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "access.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> AccessConfig:
    return load_access_config(write(tmp_path, text), KNOWN_COMMANDS)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(AccessConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value)


# ------------------------------------------------------------------------------------------ loading


def test_the_product_example_loads_as_written(tmp_path: Path) -> None:
    config = load(tmp_path, PRODUCT_EXAMPLE)
    assert config.channels == ["C0OPS"]
    assert config.roles["admin"].users == ["U0ALICE"]
    assert config.roles["admin"].groups == ["S0SRE"]
    assert config.approvers.users == ["U0ALICE", "U0DAVE"]
    assert config.approval.ttl_minutes == 30
    assert config.approval.allow_self_approval is False
    assert config.policy["keys cleanup"] == Policy(role="operator", approval=True)


def test_unknown_role_names_file_line_and_the_expected_roles(tmp_path: Path) -> None:
    text = PRODUCT_EXAMPLE.replace("viewer:   {users: [U0CAROL]}", "superuser: {users: [U0CAROL]}")
    assert (
        error_of(tmp_path, text)
        == "access.yaml:5: unknown role 'superuser' (expected viewer, operator, admin)"
    )


def test_unknown_role_in_a_policy_names_its_line(tmp_path: Path) -> None:
    text = PRODUCT_EXAMPLE.replace("scale: {role: operator", "scale: {role: root")
    assert error_of(tmp_path, text).startswith("access.yaml:9: unknown role 'root'")


def test_unknown_key_names_its_line(tmp_path: Path) -> None:
    text = PRODUCT_EXAMPLE.replace("approval: {ttl_minutes: 30,", "approval: {ttl_minute: 30,")
    message = error_of(tmp_path, text)
    assert message.startswith("access.yaml:7: unknown key 'ttl_minute' in approval")


def test_unknown_top_level_key_names_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, PRODUCT_EXAMPLE + "admins: [U0ZED]\n")
    assert message == "access.yaml:11: unknown key 'admins'"


def test_unknown_command_in_policy_names_its_line(tmp_path: Path) -> None:
    text = PRODUCT_EXAMPLE.replace("keys cleanup:", "keys clean:")
    message = error_of(tmp_path, text)
    assert message.startswith("access.yaml:10: unknown command 'keys clean' in policy (known: ")


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        ("[U0BOB]", "[bob]", 4, "malformed user ID 'bob'"),
        ("groups: [S0SRE]", "groups: [U0SRE]", 3, "malformed user group ID 'U0SRE'"),
        ("channels: [C0OPS]", "channels: [ops]", 1, "malformed channel ID 'ops'"),
        ("[U0ALICE, U0DAVE]", "[U0ALICE, u0dave]", 6, "malformed user ID 'u0dave'"),
    ],
)
def test_malformed_ids_name_their_line(tmp_path: Path, old: str, new: str, line: int, fragment: str) -> None:
    message = error_of(tmp_path, PRODUCT_EXAMPLE.replace(old, new))
    assert message.startswith(f"access.yaml:{line}: {fragment}")


def test_block_style_lists_point_at_the_offending_item(tmp_path: Path) -> None:
    text = "channels:\n  - C0OPS\n  - general\nroles: {}\n"
    assert error_of(tmp_path, text).startswith("access.yaml:3: malformed channel ID 'general'")


def test_several_problems_are_all_reported_in_line_order(tmp_path: Path) -> None:
    text = PRODUCT_EXAMPLE.replace("[U0BOB]", "[bob]").replace("keys cleanup:", "keys clean:")
    lines = error_of(tmp_path, text).splitlines()
    assert [line.split(":")[1] for line in lines] == ["4", "10"]


def test_bad_values_and_missing_keys_are_errors(tmp_path: Path) -> None:
    assert error_of(tmp_path, PRODUCT_EXAMPLE.replace("ttl_minutes: 30", "ttl_minutes: soon")).startswith(
        "access.yaml:7: approval.ttl_minutes: input should be a valid integer"
    )
    assert error_of(tmp_path, "roles: {}\n") == "access.yaml:1: missing key 'channels'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels: [C0OPS\nroles: {}\n", "access.yaml:2: invalid YAML"),
        ("channels: C0OPS: x\n", "access.yaml:1: invalid YAML"),
        ("", "access.yaml:1: the access file must be a mapping"),
        ("- just\n- a list\n", "access.yaml:1: the access file must be a mapping"),
    ],
)
def test_bad_yaml_is_a_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text).startswith(expected)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AccessConfigError, match=r"^missing\.yaml: cannot read the access file"):
        load_access_config(tmp_path / "missing.yaml", KNOWN_COMMANDS)


# ------------------------------------------------------------------------------------------ callers


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


class SlackGroups:
    """Stands in for Slack's usergroups.users.list: memberships, call counts, and an outage switch."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups
        self.calls = 0
        self.down = False

    def __call__(self, group_id: str) -> list[str]:
        self.calls += 1
        if self.down:
            raise ConnectionError("slack unreachable")
        return self.groups.get(group_id, [])


def control(
    tmp_path: Path, slack: SlackGroups, client: redis.Redis, prefix: str, text: str = ""
) -> AccessControl:
    config = load(tmp_path, text or PRODUCT_EXAMPLE)
    return AccessControl(config, GroupDirectory(slack, client, prefix))


def test_callers_resolve_to_their_highest_role_and_approver_flag(
    tmp_path: Path, client: redis.Redis, redis_prefix: str
) -> None:
    access = control(tmp_path, SlackGroups({"S0SRE": ["U0ERIN"]}), client, redis_prefix)
    assert access.caller("U0ALICE") == Caller("U0ALICE", "admin", True)
    assert access.caller("U0BOB") == Caller("U0BOB", "operator", False)
    assert access.caller("U0CAROL") == Caller("U0CAROL", "viewer", False)
    assert access.caller("U0DAVE") == Caller("U0DAVE", None, True)
    assert access.caller("U0ERIN") == Caller("U0ERIN", "admin", False)  # through the S0SRE group
    assert access.caller("U0MALLORY") == Caller("U0MALLORY", None, False)


def test_role_inclusion() -> None:
    operator = Caller("U1", "operator", False)
    assert operator.may("viewer") and operator.may("operator") and not operator.may("admin")
    assert not Caller("U2", None, True).may("viewer")
    assert Caller("U3", "admin", False).may("operator")


def test_approver_flag_on_a_role_grant(tmp_path: Path, client: redis.Redis, redis_prefix: str) -> None:
    text = PRODUCT_EXAMPLE.replace("operator: {users: [U0BOB]}", "operator: {users: [U0BOB], approver: true}")
    access = control(tmp_path, SlackGroups({}), client, redis_prefix, text)
    assert access.caller("U0BOB") == Caller("U0BOB", "operator", True)


def test_policy_override_and_defaults(tmp_path: Path, client: redis.Redis, redis_prefix: str) -> None:
    access = control(tmp_path, SlackGroups({}), client, redis_prefix)
    assert access.policy("scale", "operator", False) == Policy(role="operator", approval=True)
    assert access.policy("upgrade", "admin", True) == Policy(role="admin", approval=True)
    assert access.approval.ttl_minutes == 30


def test_channels_and_direct_messages(tmp_path: Path, client: redis.Redis, redis_prefix: str) -> None:
    access = control(tmp_path, SlackGroups({}), client, redis_prefix)
    assert access.channel_allowed("C0OPS", mutating=True)
    assert access.channel_allowed("D0DM", mutating=False)
    assert not access.channel_allowed("D0DM", mutating=True)
    assert not access.channel_allowed("C0RANDOM", mutating=False)


def test_group_members_are_cached_in_redis_with_a_ttl(client: redis.Redis, redis_prefix: str) -> None:
    slack = SlackGroups({"S0SRE": ["U1", "U2"]})
    directory = GroupDirectory(slack, client, redis_prefix, ttl_seconds=300)
    assert directory.members("S0SRE") == frozenset({"U1", "U2"})
    assert directory.members("S0SRE") == frozenset({"U1", "U2"})
    assert slack.calls == 1
    key = f"{redis_prefix}usergroup:S0SRE"
    assert 0 < client.ttl(key) <= 3600
    # Another replica (a new directory on the same Redis) uses the cache too.
    GroupDirectory(slack, client, redis_prefix).members("S0SRE")
    assert slack.calls == 1


def test_an_expired_cache_entry_is_refreshed_from_slack(client: redis.Redis, redis_prefix: str) -> None:
    slack = SlackGroups({"S0SRE": ["U1"]})
    directory = GroupDirectory(slack, client, redis_prefix, ttl_seconds=0)
    directory.members("S0SRE")
    slack.groups["S0SRE"] = ["U9"]
    assert directory.members("S0SRE") == frozenset({"U9"})
    assert slack.calls == 2


def test_slack_outage_uses_the_cached_members(client: redis.Redis, redis_prefix: str) -> None:
    slack = SlackGroups({"S0SRE": ["U1"]})
    directory = GroupDirectory(slack, client, redis_prefix, ttl_seconds=0)
    directory.members("S0SRE")
    slack.down = True
    assert directory.members("S0SRE") == frozenset({"U1"})


def test_slack_outage_without_cache_denies(
    tmp_path: Path, client: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    slack = SlackGroups({"S0SRE": ["U0ERIN"]})
    slack.down = True
    access = control(tmp_path, slack, client, redis_prefix)
    assert access.caller("U0ERIN") == Caller("U0ERIN", None, False)
    assert "treating it as empty" in caplog.text


def test_redis_outage_asks_slack_directly(tmp_path: Path) -> None:
    dead = redis_client(f"redis://127.0.0.1:{DEAD_PORT}/0")
    slack = SlackGroups({"S0SRE": ["U0ERIN"]})
    access = AccessControl(load(tmp_path, PRODUCT_EXAMPLE), GroupDirectory(slack, dead, "x:"))
    assert access.caller("U0ERIN").role == "admin"
    assert slack.calls == 1
