"""The sandbox Slack: a stateful fake Web API + response_url sink, a Socket Mode websocket link, and
Slack-style request signing.

`sandbox` never imports `bot` or `commands`.
"""

from sandbox.slack.calls import SlackCall
from sandbox.slack.server import SlackSandbox
from sandbox.slack.signing import block_actions_body, sign, slash_command_body
from sandbox.slack.socket_mode import socket_payload
from sandbox.slack.workspace import BOT_ID, BOT_USER_ID, TEAM_ID, dm_channel_id

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "SlackCall",
    "SlackSandbox",
    "block_actions_body",
    "dm_channel_id",
    "sign",
    "slash_command_body",
    "socket_payload",
]
