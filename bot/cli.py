"""`litemaas-bot serve | sandbox | demo` — the command line.

A bad setting or access file stops start-up with one clear line and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from bot.access import AccessConfigError
from bot.automation import AutomationConfigError
from bot.logging_setup import configure_logging
from bot.runtime import Bot, build_bot
from bot.settings import SettingsError, load_settings
from bot.yaml_lines import ConfigFileError

log = logging.getLogger("litemaas-bot")


ENVIRONMENTS_HELP = "several LiteMaaS deployments, e.g. dev,prod (namespaces litellm-<name>)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="litemaas-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot (Socket Mode with SLACK_APP_TOKEN, else HTTP)")
    serve.add_argument("--env-file", type=Path, help="dotenv file loaded before the environment")
    serve.add_argument("--host", default="0.0.0.0", help="HTTP listen address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default PORT or 3000)")

    sandbox = sub.add_parser("sandbox", help="run only the sandbox (simulated Kubernetes and Slack)")
    sandbox.add_argument("--write-env", type=Path, help="write the settings that point at it here")
    sandbox.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    sandbox.add_argument("--environments", default="", help=ENVIRONMENTS_HELP)

    demo = sub.add_parser("demo", help="the whole product on one machine, with a terminal console")
    demo.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    demo.add_argument("--environments", default="", help=ENVIRONMENTS_HELP)

    args = parser.parse_args(argv)
    # from the environment until the settings are loaded (then again from them: a dotenv file counts)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "text"))
    if args.command == "serve":
        return _serve(args.env_file, args.host, args.port)
    names = _environments(args.environments) if args.command in ("sandbox", "demo") else ()
    if names is None:
        return 2
    if args.command == "sandbox":
        return _sandbox(args.state_dir, args.write_env, names)
    return _demo(args.state_dir, names)


def _environments(text: str) -> tuple[str, ...] | None:
    """The `--environments` names (none: one environment, as always); None after saying what is wrong."""
    if not text.strip():
        return ()
    from sandbox.environments import environment_names

    try:
        return environment_names(text)
    except ValueError as exc:
        print(f"litemaas-bot: --environments: {exc}", file=sys.stderr)
        return None


def _load_bot(env_file: Path | None, *, configure_logs: bool = True) -> Bot | None:
    try:
        settings = load_settings(env_file=env_file)
        if configure_logs:  # before build_bot, which adds redaction to the root logger's handlers
            configure_logging(settings.log_level, settings.log_format)
        return build_bot(settings)
    except (SettingsError, AccessConfigError, ConfigFileError, AutomationConfigError) as exc:
        print(f"litemaas-bot: {exc}", file=sys.stderr)
        return None


def _serve(env_file: Path | None, host: str, port: int | None) -> int:
    bot = _load_bot(env_file)
    if bot is None:
        return 2
    server = bot.http_server(host, port if port is not None else bot.settings.port)
    bot.start_reaper(bot.settings.reaper_interval_seconds)
    bot.start_automation()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    socket_handler = None
    if bot.settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(bot.app, bot.settings.slack_app_token.get_secret_value())
        socket_handler.connect()  # type: ignore[no-untyped-call]
        log.info("Socket Mode connected; health on port %s", server.port)
    else:
        log.info("HTTP mode: /slack/events on port %s", server.port)
    stop.wait()
    if socket_handler is not None:
        socket_handler.close()  # type: ignore[no-untyped-call]
    server.stop()  # stop accepting first; then finish or mark what runs
    bot.close(grace=bot.settings.shutdown_grace_seconds)
    if bot.runner.active():  # interrupted operations' threads must not hold the exit past the grace
        logging.shutdown()
        os._exit(0)
    return 0


def _sandbox(state_dir: Path, write_env: Path | None, environments: tuple[str, ...] = ()) -> int:
    from sandbox.world import SandboxWorld

    world = SandboxWorld(state_dir=state_dir, environments=environments).start()
    env_file = world.write_env(write_env or state_dir / "sandbox.env")
    print(f"sandbox running: Kubernetes API {world.kube.url if world.kube else ''}")
    for twin in world.twins:
        print(
            f"environment {twin.name}: namespace {twin.namespace}, "
            f"Kubernetes API {twin.kube.url if twin.kube else ''}"
        )
    print(f"settings written to {env_file}; run: litemaas-bot serve --env-file {env_file}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    world.stop()
    return 0


def _demo(state_dir: Path, environments: tuple[str, ...] = ()) -> int:
    from sandbox.console import Console
    from sandbox.world import DEMO_USERS, SandboxWorld

    world = SandboxWorld(state_dir=state_dir, environments=environments).start()
    env_file = world.write_env(state_dir / "sandbox.env")
    logging.getLogger().setLevel(logging.WARNING)
    bot = _load_bot(env_file, configure_logs=False)
    if bot is None:
        world.stop()
        return 2
    server = bot.http_server("127.0.0.1", 0).start()
    bot.start_reaper()
    bot.start_automation()
    assert world.slack is not None
    users = {user_id: name for name, user_id in DEMO_USERS.items()}
    console = Console(
        world.slack,
        server.url,
        world.signing_secret,
        channel="C0OPS",
        users=users,
        kube=world.kube,
        registry=world.registry,
        control_url=world.control.url if world.control else None,
        clusters={twin.name: twin.kube for twin in world.twins if twin.kube is not None},
    )
    print(
        "litemaas-chatops demo — a sandboxed LiteMaaS and Slack.\n"
        "Type e.g.  as bob: /maas scale litellm 3   then   as dave: press 1   (help, users, quit)\n"
        "Alerts go to #ops-alerts: try  break litellm  then  wait 10\n"
        "Upgrades: /maas upgrade backend 0.5.1-typo is refused; registry down, then an approved\n"
        "/maas upgrade backend 0.9.9 fails fast with ErrImagePull (see README)"
    )
    if environments:
        print(
            f"Environments: {', '.join(environments)}. A naked  /maas scale litellm 3  is refused here;\n"
            "as bob: /maas scale litellm 3 --env <dev>  runs at once, production asks for approval"
        )
    with contextlib.suppress(KeyboardInterrupt):
        console.run(sys.stdin, prompt="> ")
    server.stop()
    bot.close()
    world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
