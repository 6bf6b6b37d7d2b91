"""Fidelity of the sandbox Slack Web API through the real `slack_sdk.WebClient`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock

from sandbox.slack import BOT_USER_ID, SlackSandbox

TOKEN = "xoxb-sandbox-test"


@pytest.fixture
def sb() -> Iterator[SlackSandbox]:
    sandbox = SlackSandbox(bot_token=TOKEN).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def client(sb: SlackSandbox) -> WebClient:
    return WebClient(token=TOKEN, base_url=sb.api_url)


def error_of(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def test_auth_test_returns_the_bot_identity_and_scopes(client: WebClient) -> None:
    response = client.auth_test()
    assert response["user_id"] == BOT_USER_ID
    assert response["team_id"] == "T0SANDBOX"
    assert response["bot_id"].startswith("B")
    assert response["url"].startswith("https://")
    assert "chat:write" in response.headers["x-oauth-scopes"]


def test_missing_or_wrong_token_is_refused(sb: SlackSandbox) -> None:
    with pytest.raises(SlackApiError) as no_token:
        WebClient(base_url=sb.api_url).chat_postMessage(channel="C0OPS", text="hi")
    assert error_of(no_token) == "not_authed"
    with pytest.raises(SlackApiError) as user_token:
        WebClient(token="xoxp-someone", base_url=sb.api_url).auth_test()
    assert error_of(user_token) == "not_authed"
    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxb-other", base_url=sb.api_url).chat_postMessage(channel="C0OPS", text="hi")
    assert error_of(wrong) == "invalid_auth"
    assert sb.messages("C0OPS") == []


def test_unknown_method_answers_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.api_call("chat.teleport", json={"channel": "C0OPS"})
    assert error_of(exc) == "unknown_method"


def test_post_message_is_stored_and_returned(client: WebClient, sb: SlackSandbox) -> None:
    blocks = [
        SectionBlock(text="*Scaling* litellm"),
        ActionsBlock(elements=[ButtonElement(text="Go", action_id="go")]),
    ]
    response = client.chat_postMessage(channel="C0OPS", text="scaling", blocks=blocks)
    assert response["channel"] == "C0OPS"
    assert response["message"]["text"] == "scaling"
    stored = sb.message("C0OPS", response["ts"])
    assert stored["blocks"][0]["text"]["text"] == "*Scaling* litellm"
    assert stored["blocks"][1]["elements"][0]["action_id"] == "go"
    assert stored["ephemeral"] is False and stored["edited"] is None
    call = sb.wait_for("chat.postMessage")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.args["channel"] == "C0OPS"


def test_form_encoded_bodies_are_understood(client: WebClient, sb: SlackSandbox) -> None:
    blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "from a form"}}])
    client.api_call("chat.postMessage", data={"channel": "C0OTHER", "text": "form", "blocks": blocks})
    (message,) = sb.messages("C0OTHER")
    assert message["text"] == "form"
    assert message["blocks"][0]["text"]["text"] == "from a form"


def test_thread_replies_keep_their_parent(client: WebClient, sb: SlackSandbox) -> None:
    parent = client.chat_postMessage(channel="C0OPS", text="parent")["ts"]
    reply = client.chat_postMessage(channel="C0OPS", text="detail", thread_ts=parent)
    assert [m["text"] for m in sb.messages("C0OPS")] == ["parent", "detail"]
    assert sb.message("C0OPS", reply["ts"])["thread_ts"] == parent
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0OPS", text="orphan", thread_ts="1.000001")
    assert error_of(exc) == "thread_not_found"


def test_post_message_errors(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown_channel:
        client.chat_postMessage(channel="C0NOPE", text="hi")
    assert error_of(unknown_channel) == "channel_not_found"
    with pytest.raises(SlackApiError) as empty:
        client.chat_postMessage(channel="C0OPS", text="")
    assert error_of(empty) == "no_text"
    with pytest.raises(SlackApiError) as bad_blocks:
        client.api_call("chat.postMessage", data={"channel": "C0OPS", "blocks": "{not json"})
    assert error_of(bad_blocks) == "invalid_blocks"


def test_update_edits_in_place_and_unknown_ts_is_message_not_found(
    client: WebClient, sb: SlackSandbox
) -> None:
    first = client.chat_postMessage(channel="C0OPS", text="▱▱▱ 0/3")["ts"]
    client.chat_postMessage(channel="C0OPS", text="another")
    client.chat_update(channel="C0OPS", ts=first, text="▰▰▰ 3/3")
    messages = sb.messages("C0OPS")
    assert [m["text"] for m in messages] == ["▰▰▰ 3/3", "another"]
    assert messages[0]["edited"] is not None
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel="C0OPS", ts="1234.000001", text="x")
    assert error_of(exc) == "message_not_found"


def test_ephemeral_messages_carry_their_viewer(client: WebClient, sb: SlackSandbox) -> None:
    response = client.chat_postEphemeral(channel="C0OPS", user="U0BOB", text="you have no role")
    (message,) = sb.messages("C0OPS")
    assert message["ts"] == response["message_ts"]
    assert message["ephemeral"] is True and message["user"] == "U0BOB"
    with pytest.raises(SlackApiError) as exc:
        client.chat_postEphemeral(channel="C0OPS", user="U0NOBODY", text="x")
    assert error_of(exc) == "user_not_found"
    with pytest.raises(SlackApiError) as not_editable:
        client.chat_update(channel="C0OPS", ts=response["message_ts"], text="edited")
    assert error_of(not_editable) == "message_not_found"


def test_posting_to_a_user_id_lands_in_their_dm(client: WebClient, sb: SlackSandbox) -> None:
    response = client.chat_postMessage(channel="U0DAVE", text="approval needed")
    assert response["channel"] == "D0DAVE"
    assert [m["text"] for m in sb.messages("D0DAVE")] == ["approval needed"]


def test_views_open_and_update(client: WebClient, sb: SlackSandbox) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Add model"}, "blocks": []}
    opened = client.views_open(trigger_id="123.456.abc", view=view)["view"]
    assert opened["id"].startswith("V")
    updated = client.views_update(view_id=opened["id"], view={**view, "external_id": "m1"})["view"]
    assert updated["id"] == opened["id"]
    assert sb.views[0]["external_id"] == "m1"
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id="V404", view=view)
    assert error_of(exc) == "not_found"
    with pytest.raises(SlackApiError) as no_trigger:
        client.api_call("views.open", json={"view": view})
    assert error_of(no_trigger) == "invalid_trigger_id"


def test_user_groups_users_and_conversations(client: WebClient) -> None:
    assert client.usergroups_users_list(usergroup="S0SRE")["users"] == ["U0ALICE"]
    groups = client.usergroups_list(include_users=True)["usergroups"]
    assert [(g["id"], g["users"]) for g in groups] == [("S0SRE", ["U0ALICE"])]
    with pytest.raises(SlackApiError) as exc:
        client.usergroups_users_list(usergroup="S0NONE")
    assert error_of(exc) == "no_such_subteam"
    assert client.users_info(user="U0CAROL")["user"]["name"] == "carol"
    with pytest.raises(SlackApiError) as no_user:
        client.users_info(user="U0ZED")
    assert error_of(no_user) == "user_not_found"
    assert client.conversations_info(channel="D0ALICE")["channel"]["is_im"] is True
    ops = client.conversations_info(channel="C0OPS")["channel"]
    assert (ops["name"], ops["is_im"]) == ("ops", False)
    with pytest.raises(SlackApiError) as no_channel:
        client.conversations_info(channel="C0GONE")
    assert error_of(no_channel) == "channel_not_found"


def test_seeded_people_can_be_overridden() -> None:
    with SlackSandbox(bot_token=TOKEN, users={"U0ZOE": "zoe"}, usergroups={"S0DBA": ["U0ZOE"]}) as sandbox:
        client = WebClient(token=TOKEN, base_url=sandbox.api_url)
        assert client.users_info(user="U0ZOE")["user"]["name"] == "zoe"
        assert client.usergroups_users_list(usergroup="S0DBA")["users"] == ["U0ZOE"]
        with pytest.raises(SlackApiError):
            client.users_info(user="U0ALICE")


def test_reactions_add(client: WebClient, sb: SlackSandbox) -> None:
    ts = client.chat_postMessage(channel="C0OPS", text="done")["ts"]
    client.reactions_add(channel="C0OPS", timestamp=ts, name="white_check_mark")
    assert sb.message("C0OPS", ts)["reactions"][0]["name"] == "white_check_mark"
    with pytest.raises(SlackApiError) as again:
        client.reactions_add(channel="C0OPS", timestamp=ts, name="white_check_mark")
    assert error_of(again) == "already_reacted"
    with pytest.raises(SlackApiError) as missing:
        client.reactions_add(channel="C0OPS", timestamp="1.000002", name="x")
    assert error_of(missing) == "message_not_found"


def test_files_upload_v2_stores_the_file_and_shares_it(client: WebClient, sb: SlackSandbox) -> None:
    content = "line 1\nline 2\n" + "\n".join(f"log {i}" for i in range(100))
    response = client.files_upload_v2(
        channel="C0OPS", content=content, filename="litellm.log", title="litellm logs", initial_comment="logs"
    )
    assert response["file"]["title"] == "litellm logs"
    (stored,) = sb.files
    assert (stored["title"], stored["content"], stored["channel"]) == ("litellm logs", content, "C0OPS")
    (shared,) = sb.messages("C0OPS")
    assert shared["text"] == "logs"
    assert shared["files"][0]["preview"].splitlines()[:2] == ["line 1", "line 2"]
    assert [c.method for c in sb.calls] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]


def test_complete_upload_of_an_unknown_file_fails(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}], channel_id="C0OPS")
    assert error_of(exc) == "file_not_found"


def test_apps_connections_open_needs_an_app_token(sb: SlackSandbox, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.apps_connections_open(app_token=TOKEN)
    assert error_of(exc) == "not_allowed_token_type"
    opened = WebClient(base_url=sb.api_url).apps_connections_open(app_token="xapp-sandbox")
    assert opened["url"].startswith("ws://")
    with pytest.raises(SlackApiError) as wrong_app_token:
        WebClient(base_url=sb.api_url).apps_connections_open(app_token="xapp-other")
    assert error_of(wrong_app_token) == "invalid_auth"


def test_injected_error_answers_ok_false_the_given_times(client: WebClient, sb: SlackSandbox) -> None:
    sb.fail("chat.postMessage", error="channel_not_found", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C0OPS", text="hi")
        assert error_of(exc) == "channel_not_found"
    client.chat_postMessage(channel="C0OPS", text="hi")
    assert [m["text"] for m in sb.messages("C0OPS")] == ["hi"]
    assert len(sb.calls_to("chat.postMessage")) == 3


def test_injected_http_status(client: WebClient, sb: SlackSandbox) -> None:
    sb.fail("chat.update", status=500)
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel="C0OPS", ts="1.1", text="x")
    assert exc.value.response.status_code == 500


def test_rate_limit_retry_handler_retries_after_429_and_the_message_lands_once(sb: SlackSandbox) -> None:
    client = WebClient(token=TOKEN, base_url=sb.api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    sb.fail("chat.postMessage", retry_after=0)
    started = time.monotonic()
    response = client.chat_postMessage(channel="C0OPS", text="progress")
    assert response["ok"] is True
    assert time.monotonic() - started < 3
    assert len(sb.calls_to("chat.postMessage")) == 2
    assert [m["text"] for m in sb.messages("C0OPS")] == ["progress"]


def test_429_without_retry_handler_surfaces_retry_after(client: WebClient, sb: SlackSandbox) -> None:
    sb.fail("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0OPS", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert error_of(exc) == "ratelimited"


def test_wait_for_waits_for_a_later_call_and_explains_a_timeout(client: WebClient, sb: SlackSandbox) -> None:
    client.chat_postMessage(channel="C0OPS", text="first")
    found = sb.wait_for("chat.postMessage", lambda c: c.args.get("text") == "first", timeout=1)
    assert found.args["channel"] == "C0OPS"
    with pytest.raises(AssertionError) as exc:
        sb.wait_for("chat.update", timeout=0.2)
    assert "chat.postMessage" in str(exc.value)
    assert TOKEN not in str(exc.value)


def test_subscribers_see_each_call_after_the_state_changed(client: WebClient, sb: SlackSandbox) -> None:
    seen: list[tuple[str, int]] = []
    sb.subscribe(lambda call: seen.append((call.method, len(sb.messages("C0OPS")))))
    client.chat_postMessage(channel="C0OPS", text="one")
    assert seen == [("chat.postMessage", 1)]


def test_response_url_sink_honours_replace_and_delete(sb: SlackSandbox) -> None:
    url = sb.response_url("cmd1")
    with httpx.Client() as http:
        assert http.post(url, json={"text": "working", "response_type": "ephemeral"}).text == "ok"
        http.post(url, json={"text": "done", "replace_original": True})
        assert [r["text"] for r in sb.responses("cmd1")] == ["done"]
        http.post(url, json={"text": "in channel", "response_type": "in_channel"})
        assert [r["text"] for r in sb.responses("cmd1")] == ["done", "in channel"]
        http.post(url, json={"delete_original": True})
        assert [r["text"] for r in sb.responses("cmd1")] == ["done"]
        assert http.post(url, content=b"[1]", headers={"content-type": "application/json"}).status_code == 400
    assert sb.responses("other") == []
    assert len(sb.calls_to("response_url")) == 4


def test_bound_response_url_answers_show_up_in_the_channel(client: WebClient, sb: SlackSandbox) -> None:
    card = client.chat_postMessage(channel="C0OPS", text="approve?")["ts"]
    url = sb.response_url("act1", channel="C0OPS", message_ts=card, user="U0DAVE")
    with httpx.Client() as http:
        http.post(url, json={"text": "approved by dave", "replace_original": True})
        assert sb.message("C0OPS", card)["text"] == "approved by dave"
        http.post(url, json={"text": "only you see this"})
    messages = sb.messages("C0OPS")
    assert [(m["text"], m["ephemeral"], m["user"]) for m in messages] == [
        ("approved by dave", False, BOT_USER_ID),
        ("only you see this", True, "U0DAVE"),
    ]


def test_stop_releases_the_port() -> None:
    sandbox = SlackSandbox(bot_token=TOKEN).start()
    url = sandbox.api_url
    sandbox.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + "auth.test", timeout=2)
    with pytest.raises(ValueError):
        SlackSandbox(bot_token="not-a-token")


def test_raw_bodies_json_multipart_and_garbage(sb: SlackSandbox) -> None:
    url = sb.api_url + "chat.postMessage"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(headers=auth) as http:
        multipart = http.post(
            url, data={"channel": "C0OPS", "text": "multi"}, files={"file": ("a.txt", b"x")}
        )
        assert multipart.json()["ok"] is True
        garbage = http.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
        assert garbage.json() == {"ok": False, "error": "invalid_json"}
        query = http.post(url + "?channel=C0OTHER&text=from+query")
        assert query.json()["ok"] is True
        assert http.post(sb.url + "/nowhere").status_code == 404
    assert [m["text"] for m in sb.all_messages()] == ["multi", "from query"]
    assert sb.calls_to("chat.postMessage")[0].args["file"] == b"x"
