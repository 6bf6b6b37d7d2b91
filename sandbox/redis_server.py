"""LiteLLM's Redis in the sandbox: a `redis-server` of its own on a free loopback port, never the
bot's Redis (so `cache flush` in the demo empties LiteLLM's cache, not the bot's locks and alert
state), and one per sandbox. `down()` stops it, `up()` starts it again on the same port: an outage as
LiteLLM and the bot's `redis` watcher see one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import redis


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One throwaway `redis-server` (no persistence) on 127.0.0.1."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        self.binary = found
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def up(self, timeout: float = 10.0) -> RedisServer:
        """Start it (a no-op when running) and wait until it answers PING."""
        if self.running:
            return self
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return self
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.down()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def down(self) -> None:
        """Stop it (a no-op when stopped)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None
