"""The automation file: defaults, overrides field by field, and errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.automation import AutomationConfigError, load_automation


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "automation.yaml"
    path.write_text(text)
    return path


def test_no_file_automates_nothing() -> None:
    config = load_automation(None)
    assert not config.active and config.schedules == {}


def test_defaults_are_the_runbook_crontab_and_can_be_overridden_field_by_field(tmp_path: Path) -> None:
    config = load_automation(
        write(tmp_path, "alerts: {channel: C0ALERTS}\nschedules:\n  key-cleanup: {cron: '30 1 * * *'}\n")
    )
    assert config.schedules["key-cleanup"].cron == "30 1 * * *"
    assert config.schedules["key-cleanup"].command == "keys cleanup"
    assert set(config.schedules) == {"key-cleanup", "backup", "backup-verify", "drift"}
    assert config.schedule_channel("backup") == "C0ALERTS"
    assert config.alerts.watcher("pods").interval_seconds == 30


def test_drift_thresholds_name_the_report_kinds_f_included(tmp_path: Path) -> None:
    config = load_automation(
        write(tmp_path, "alerts: {channel: C0A, drift_thresholds: {default: 0, a: 10, c: 2, f: 5}}\n")
    )
    assert config.alerts.drift_thresholds == {"default": 0, "a": 10, "c": 2, "f": 5}


def test_routes_pick_the_first_match_then_the_default_channel(tmp_path: Path) -> None:
    config = load_automation(
        write(
            tmp_path,
            "alerts:\n  channel: C0ALL\n  routes:\n"
            "    - {severity: [critical], channel: C0PAGE}\n    - {component: [backup], channel: C0BKP}\n",
        )
    )
    assert config.alerts.channel_for("critical", "backup") == "C0PAGE"
    assert config.alerts.channel_for("warning", "backup") == "C0BKP"
    assert config.alerts.channel_for("info", "litellm") == "C0ALL"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            "alerts: {channel: C0A}\nschedules: {key-cleanup: {cron: 'every night'}}\n",
            "schedules.key-cleanup.cron",
        ),
        ("alerts: {channel: C0A, watchers: {podz: {interval_seconds: 5}}}\n", "unknown watcher 'podz'"),
        ("alerts: {channel: C0A, drift_thresholds: {g: 3}}\n", "unknown drift kind 'g'"),
        ("alerts: {channel: C0A, drift_thresholds: {f: -1}}\n", "drift threshold 'f' must be 0 or more"),
        ("alerts: {channel: '#ops'}\n", "alerts.channel"),
        ("alerts: {channel: C0A, renotify_minutes: 0}\n", "alerts.renotify_minutes"),
        ("alerts: {channel: C0A, watchers: {pods: {pending_seconds: -1}}}\n", "alerts.watchers.pods"),
        ("schedules: {key-cleanup: {cron: '0 2 * * *'}}\n", "has no channel"),
        ("alerts: [1, 2]\n", "alerts"),
        ("- just a list\n", "must be a mapping"),
        ("alerts: {channel: C0A\n", "not valid YAML"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AutomationConfigError) as caught:
        load_automation(path)
    assert str(caught.value).startswith(str(path)) and named in str(caught.value)


def test_watchers_wait_like_kube_prometheus_and_are_overridden_field_by_field(tmp_path: Path) -> None:
    config = load_automation(
        write(tmp_path, "alerts:\n  channel: C0A\n  watchers:\n    pods: {pending_seconds: 0}\n")
    )
    deployments, pods = config.alerts.watcher("deployments"), config.alerts.watcher("pods")
    assert deployments.pending_for(failed=False) == 900  # KubeDeploymentReplicasMismatch `for: 15m`
    assert deployments.pending_for(failed=True) == 60  # past its progress deadline, image unpullable
    assert deployments.clear_seconds == 300
    assert pods.pending_seconds == 0 and pods.interval_seconds == 30 and pods.clear_seconds == 300
