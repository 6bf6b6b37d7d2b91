"""A bounded pool of worker threads for operations, so long work never runs on Bolt's listener threads.

The pool has a fixed number of workers and a bounded backlog; when both are full a new job is
refused (the caller tells the user to try again) rather than queued without limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class RunnerBusy(Exception):
    """Every worker is busy and the backlog is full."""


class JobRunner:
    """Runs jobs on `workers` threads with at most `backlog` jobs waiting."""

    def __init__(self, workers: int = 4, backlog: int = 100) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="op")
        self._slots = threading.BoundedSemaphore(workers + backlog)
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, job: Callable[[], None], *, name: str = "job") -> Future[None]:
        if self._closed:
            raise RunnerBusy("the bot is stopping; try again in a minute")
        if not self._slots.acquire(blocking=False):
            raise RunnerBusy("every worker is busy; try again in a minute")

        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("job %s failed unexpectedly", name)
            finally:
                self._slots.release()

        try:
            future = self._pool.submit(run)
        except RuntimeError:  # closed meanwhile
            self._slots.release()
            raise RunnerBusy("the bot is stopping; try again in a minute") from None
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def active(self) -> int:
        with self._lock:
            return len(self._futures)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is running or waiting; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.active() == 0:
                return True
            time.sleep(0.01)
        return self.active() == 0

    def stop_accepting(self) -> None:
        """Refuse new jobs and drop the queued ones (never started); running jobs go on."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class Throttle:
    """Lets an action through at most once per `interval` seconds (progress edits)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = float("-inf")

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False
