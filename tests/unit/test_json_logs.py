"""JSON log lines: their fields, the operation id on lines logged while an operation runs (on the real
JobRunner's worker threads), redaction of secrets, and LOG_FORMAT handling."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.logging_setup import build_handler, configure_logging, operation_context
from bot.redaction import Redactor, install_log_redaction
from bot.runner import JobRunner
from bot.settings import SettingsError, load_settings

SECRET = "hunter2-very-secret-password"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A private logger writing JSON lines to a buffer (the root logger is left alone)."""
    stream = io.StringIO()
    logger = logging.getLogger(f"test.json.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = build_handler("json", stream)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_time_level_logger_message(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.warning("scaled %s to %d", "litellm", 3)
    (line,) = lines(stream)
    assert line["level"] == "WARNING"
    assert line["logger"] == logger.name
    assert line["message"] == "scaled litellm to 3"
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    assert "operation_id" not in line


def test_an_exception_is_one_field_of_the_same_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise RuntimeError("kaboom")
    except RuntimeError:
        logger.exception("operation raised")
    (line,) = lines(stream)
    assert line["message"] == "operation raised"
    assert "RuntimeError: kaboom" in line["exception"]


def test_operation_id_is_on_lines_logged_inside_a_job_and_nowhere_else(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    runner = JobRunner(workers=2)
    inside = threading.Event()
    proceed = threading.Event()

    def job() -> None:
        with operation_context("op-1234"):
            logger.info("patching the deployment")
            inside.set()
            proceed.wait(5)
        logger.info("job finished")

    try:
        with operation_context("set-by-the-submitter"):  # a context var does not follow a job to its worker
            runner.submit(job)
            assert inside.wait(5)
            logger.info("submitter logging meanwhile")
        proceed.set()
        assert runner.wait_idle(5)
    finally:
        runner.shutdown()
    tagged = {line["message"]: line.get("operation_id") for line in lines(stream)}
    assert tagged["patching the deployment"] == "op-1234"
    assert tagged["job finished"] is None
    assert tagged["submitter logging meanwhile"] == "set-by-the-submitter"


def test_the_runner_logs_a_failed_job_without_the_jobs_operation_id() -> None:
    stream = io.StringIO()
    runner_log = logging.getLogger("bot.runner")
    handler = build_handler("json", stream)
    runner_log.addHandler(handler)
    runner = JobRunner(workers=1)

    def failing_job() -> None:
        with operation_context("op-5678"):
            raise RuntimeError("boom")

    try:
        runner.submit(failing_job, name="scale")
        assert runner.wait_idle(5)
    finally:
        runner.shutdown()
        runner_log.removeHandler(handler)
    (line,) = [entry for entry in lines(stream) if "scale" in entry["message"]]
    assert line["level"] == "ERROR" and "RuntimeError: boom" in line["exception"]
    assert "operation_id" not in line


def test_secrets_never_reach_a_json_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    install_log_redaction(Redactor([SECRET]), logger)
    with operation_context("op-1"):
        logger.warning("connecting with %s and key %s", SECRET, "sk-abcdefghijklmnop")
        try:
            raise ValueError(f"DATABASE_URL=postgresql://bot:{SECRET}@db/bot")
        except ValueError:
            logger.exception("store failed: %s", SECRET)
    text = stream.getvalue()
    assert SECRET not in text and "sk-abcdefghijklmnop" not in text
    first, second = lines(stream)
    assert first["message"] == "connecting with *** and key sk-***"
    assert first["operation_id"] == "op-1"
    assert second["message"] == "store failed: ***" and "ValueError" in second["exception"]


@pytest.fixture
def root_restored() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_configure_logging_replaces_its_own_handler(root_restored: logging.Logger) -> None:
    before = len(root_restored.handlers)
    configure_logging("info", "text")
    json_handler = configure_logging("debug", "json")
    assert len(root_restored.handlers) == before + 1 and json_handler in root_restored.handlers
    assert root_restored.level == logging.DEBUG
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    json_handler.filter(record)
    assert json.loads(json_handler.format(record))["message"] == "hello"

    text_handler = configure_logging("nonsense", "xml")  # unusable values fall back, never crash
    assert json_handler not in root_restored.handlers
    assert root_restored.level == logging.INFO
    assert text_handler.format(record).endswith("INFO x: hello")


def test_httpx_request_lines_are_quiet_at_info_and_shown_at_debug(root_restored: logging.Logger) -> None:
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    try:
        configure_logging("INFO", "text")
        assert not httpx_log.isEnabledFor(logging.INFO) and httpx_log.isEnabledFor(logging.WARNING)
        configure_logging("DEBUG", "text")
        assert httpx_log.isEnabledFor(logging.INFO)
    finally:
        httpx_log.setLevel(level)


def test_log_format_setting_accepts_json_or_text_only(tmp_path: Path) -> None:
    access = tmp_path / "access.yaml"
    access.write_text("")
    base: dict[str, Any] = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": "signing-secret",
        "bot_database_url": "postgresql://bot@db/bot",
        "access_config": access,
    }
    assert load_settings(**base).log_format == "text"
    assert load_settings(**base, log_format="json").log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings(**base, log_format="xml")
