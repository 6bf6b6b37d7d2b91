"""The sandbox workspace: who and what exists (users, user groups, channels, the bot's identity).

Immutable after construction; the stateful parts (messages, files, views) live in `store.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0SANDBOX"
TEAM_NAME = "Sandbox"
TEAM_DOMAIN = "sandbox"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "litemaas-bot"
APP_ID = "A0SANDBOX"
BOT_SCOPES = (
    "commands,chat:write,chat:write.public,users:read,usergroups:read,channels:read,groups:read,"
    "im:read,im:write,files:write,reactions:write"
)

DEFAULT_USERS: Mapping[str, str] = {
    "U0ALICE": "alice",
    "U0BOB": "bob",
    "U0CAROL": "carol",
    "U0DAVE": "dave",
    "U0EVE": "eve",
    "U0FRANK": "frank",
}
DEFAULT_USERGROUPS: Mapping[str, Sequence[str]] = {"S0SRE": ["U0ALICE"]}
DEFAULT_CHANNELS: Mapping[str, str] = {"C0OPS": "ops", "C0ALERTS": "ops-alerts", "C0OTHER": "random"}


def dm_channel_id(user_id: str) -> str:
    """The DM channel between the bot and `user_id`: D0ALICE for U0ALICE (D + id otherwise)."""
    return "D0" + user_id[2:] if user_id.startswith("U0") else "D" + user_id


@dataclass(frozen=True)
class Workspace:
    """Users (id → name), user groups (id → member ids) and public channels (id → name)."""

    users: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    usergroups: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(DEFAULT_USERGROUPS))
    channels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))

    def user_id_by_name(self, name: str) -> str | None:
        """The id of the user called `name` (case-insensitive, leading @ ignored), or None."""
        wanted = name.lstrip("@").lower()
        for user_id, user_name in self.users.items():
            if user_name.lower() == wanted or user_id.lower() == wanted:
                return user_id
        return None

    def dm_channels(self) -> dict[str, str]:
        """DM channel id → the user on the other side (the bot's DMs with every user)."""
        return {dm_channel_id(user_id): user_id for user_id in self.users}

    def resolve_channel(self, channel: str) -> str | None:
        """A channel id from an id, a `#name`, or a user id (the DM with that user); None if unknown."""
        if channel in self.channels or channel in self.dm_channels():
            return channel
        if channel in self.users:
            return dm_channel_id(channel)
        name = channel.lstrip("#").lower()
        for channel_id, channel_name in self.channels.items():
            if channel_name.lower() == name:
                return channel_id
        return None

    def channel_name(self, channel_id: str) -> str:
        """How a person would call the channel: `#ops`, or `DM with alice`."""
        if channel_id in self.channels:
            return "#" + self.channels[channel_id]
        user_id = self.dm_channels().get(channel_id)
        if user_id is not None:
            return f"DM with {self.users[user_id]}"
        return channel_id

    def user_object(self, user_id: str) -> dict[str, Any] | None:
        """The `users.info` shape of a user (the bot included), or None when unknown."""
        if user_id == BOT_USER_ID:
            name, is_bot = BOT_NAME, True
        elif user_id in self.users:
            name, is_bot = self.users[user_id], False
        else:
            return None
        return {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": name.capitalize(),
            "tz": "UTC",
            "is_bot": is_bot,
            "is_admin": False,
            "profile": {
                "real_name": name.capitalize(),
                "display_name": name,
                "email": None if is_bot else f"{name}@example.com",
                **({"bot_id": BOT_ID} if is_bot else {}),
            },
        }

    def conversation_object(self, channel_id: str) -> dict[str, Any] | None:
        """The `conversations.info` shape of a channel or DM, or None when unknown."""
        if channel_id in self.channels:
            return {
                "id": channel_id,
                "name": self.channels[channel_id],
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_private": False,
                "is_member": True,
                "is_archived": False,
                "created": 1700000000,
            }
        user_id = self.dm_channels().get(channel_id)
        if user_id is not None:
            return {
                "id": channel_id,
                "is_channel": False,
                "is_group": False,
                "is_im": True,
                "is_private": True,
                "user": user_id,
                "is_open": True,
                "created": 1700000000,
            }
        return None

    def usergroup_object(self, group_id: str, *, include_users: bool) -> dict[str, Any]:
        """The `usergroups.list` shape of one user group."""
        members = list(self.usergroups[group_id])
        handle = (group_id[2:] if group_id.startswith("S0") else group_id).lower()
        group: dict[str, Any] = {
            "id": group_id,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "name": handle.upper(),
            "handle": handle,
            "user_count": len(members),
            "date_delete": 0,
        }
        if include_users:
            group["users"] = members
        return group
