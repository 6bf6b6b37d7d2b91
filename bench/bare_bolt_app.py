"""The baseline of bench/ack_latency.py: a Bolt app that only acks `/maas`, on the bot's own HTTP stack.

python bench/bare_bolt_app.py --port N --signing-secret S --slack-api-url URL --bot-token T

Built like the bot's app (bot/app.py): a token the Slack sandbox accepts (with a rejected one, Bolt
answers "installation no longer available" without running the listener, and calls `auth.test` on
every request), `token_verification_enabled=False`, and a listener pool of the bot's size.
`/readyz` reports how many times the listener ran (`{"listener_calls": "N"}`) so the benchmark can
assert that every ack it timed came from the listener.
"""

from __future__ import annotations

import argparse
import threading
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.app import LISTENER_THREADS
from bot.http import BotWsgiApp, HttpServer


class CallCounter:
    """How many times the listener ran (thread-safe), as `/readyz` reports it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0

    def count(self) -> None:
        with self._lock:
            self.calls += 1

    def readiness(self) -> dict[str, str]:
        return {"listener_calls": str(self.calls)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument("--slack-api-url", required=True)
    parser.add_argument("--bot-token", required=True, help="the token the Slack sandbox accepts")
    args = parser.parse_args()
    app = App(
        client=WebClient(token=args.bot_token, base_url=args.slack_api_url, timeout=10),
        signing_secret=args.signing_secret,
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="bolt"),
    )
    counter = CallCounter()

    @app.command("/maas")
    def on_command(ack: Ack) -> None:
        counter.count()
        ack()

    HttpServer(BotWsgiApp(app, counter.readiness), "127.0.0.1", args.port).serve_forever()


if __name__ == "__main__":
    main()
