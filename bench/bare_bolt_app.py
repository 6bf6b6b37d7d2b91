"""The baseline of bench/ack_latency.py: a Bolt app that only acks `/maas`, on the bot's own HTTP stack.

python bench/bare_bolt_app.py --port N --signing-secret S --slack-api-url URL
"""

from __future__ import annotations

import argparse

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.http import BotWsgiApp, HttpServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument("--slack-api-url", required=True)
    args = parser.parse_args()
    app = App(
        client=WebClient(token="xoxb-baseline", base_url=args.slack_api_url),
        signing_secret=args.signing_secret,
        token_verification_enabled=False,
    )

    @app.command("/maas")
    def on_command(ack: Ack) -> None:
        ack()

    HttpServer(BotWsgiApp(app, dict), "127.0.0.1", args.port).serve_forever()


if __name__ == "__main__":
    main()
