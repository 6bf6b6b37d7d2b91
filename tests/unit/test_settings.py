"""Settings load from the environment, a dotenv file and mounted secret files; errors are one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, SettingsError, load_settings

SETTING_NAMES = [name.upper() for name in Settings.model_fields] + ["SECRETS_DIR"]
DB_PASSWORD = "pg-Pa55word-xyz"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own environment must not leak into these tests."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def access_file(tmp_path: Path) -> Path:
    path = tmp_path / "access.yaml"
    path.write_text("channels: [C0OPS]\nroles: {}\n")
    return path


@pytest.fixture
def required_env(monkeypatch: pytest.MonkeyPatch, access_file: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-env-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-env")
    monkeypatch.setenv("BOT_DATABASE_URL", f"postgresql://bot:{DB_PASSWORD}@db:5432/chatops")
    monkeypatch.setenv("ACCESS_CONFIG", str(access_file))


@pytest.mark.usefixtures("required_env")
def test_defaults_and_environment_values() -> None:
    settings = load_settings()
    assert settings.slack_bot_token.get_secret_value() == "xoxb-env-token"
    assert settings.slack_app_token is None
    assert settings.slash_command == "/maas"
    assert settings.litemaas_namespace == "litellm-rhpds"
    assert settings.redis_prefix == "chatops:"
    assert settings.port == 3000
    assert settings.kubeconfig is None
    assert settings.scale_bounds == {}
    assert "xoxb-env-token" not in repr(settings)


def test_dotenv_file_loads_and_real_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, access_file: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SLACK_BOT_TOKEN=xoxb-from-file\n"
        "SLACK_SIGNING_SECRET=from-file-secret\n"
        f"BOT_DATABASE_URL=postgresql://bot@db/chatops\n"
        f"ACCESS_CONFIG={access_file}\n"
        "PORT=8080\n"
        'SCALE_BOUNDS={"litellm": [1, 6]}\n'
    )
    monkeypatch.setenv("PORT", "9090")
    settings = load_settings(env_file=env_file)
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-file"
    assert settings.port == 9090
    assert settings.scale_bounds == {"litellm": (1, 6)}


def test_mounted_secret_files_fill_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, access_file: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "SLACK_BOT_TOKEN").write_text("xoxb-from-secret-file\n")
    (secrets / "slack_signing_secret").write_text("signing-from-file")
    (secrets / "BOT_DATABASE_URL").write_text("postgresql://bot:pw123456@db/chatops")
    monkeypatch.setenv("SECRETS_DIR", str(secrets))
    monkeypatch.setenv("ACCESS_CONFIG", str(access_file))
    settings = load_settings()
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-secret-file"
    assert settings.slack_signing_secret.get_secret_value() == "signing-from-file"


def test_a_missing_secrets_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRETS_DIR"):
        load_settings(secrets_dir=tmp_path / "nope")


def test_missing_settings_are_named_in_one_line(access_file: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(access_config=access_file)
    message = str(caught.value)
    assert "\n" not in message
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "BOT_DATABASE_URL"):
        assert f"{name}: not set" in message
    assert "ACCESS_CONFIG" not in message


@pytest.mark.usefixtures("required_env")
@pytest.mark.parametrize(
    ("override", "value", "expected"),
    [
        ("slack_app_token", "xoxb-not-an-app-token-123", "SLACK_APP_TOKEN: must be an app-level token"),
        ("slash_command", "maas", "SLASH_COMMAND: must start with '/'"),
        ("litemaas_namespace", "LiteLLM_NS", "LITEMAAS_NAMESPACE: must be a DNS-1123 label"),
        (
            "bot_database_url",
            "mysql://root:topsecret99@db/x",
            "BOT_DATABASE_URL: must be a postgresql:// URL",
        ),
        ("redis_url", "http://user:topsecret99@redis", "REDIS_URL: must be a redis://"),
        (
            "access_config",
            "/nonexistent/access.yaml",
            "ACCESS_CONFIG: file /nonexistent/access.yaml does not",
        ),
        ("port", "eighty", "PORT: input should be a valid integer"),
        ("scale_bounds", {"litellm": (5, 1)}, "SCALE_BOUNDS: bounds of 'litellm' must satisfy"),
        ("log_level", "LOUD", "LOG_LEVEL: must be one of"),
    ],
)
def test_invalid_values_name_the_setting_but_never_the_value(
    override: str, value: Any, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(**{override: value})
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "topsecret99" not in message
    assert "xoxb-not-an-app-token-123" not in message


@pytest.mark.usefixtures("required_env")
def test_malformed_json_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALE_BOUNDS", "{litellm: [1,")
    with pytest.raises(SettingsError, match="SCALE_BOUNDS: not valid JSON"):
        load_settings()


@pytest.mark.usefixtures("required_env")
def test_socket_mode_token_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A0-123")
    settings = load_settings()
    assert settings.slack_app_token is not None
    assert settings.slack_app_token.get_secret_value() == "xapp-1-A0-123"


@pytest.mark.usefixtures("required_env")
def test_secret_values_cover_tokens_and_url_passwords_only() -> None:
    settings = load_settings(slack_app_token="xapp-1-abcdef")
    values = settings.secret_values()
    assert {"xoxb-env-token", "signing-secret-env", "xapp-1-abcdef", DB_PASSWORD} <= set(values)
    assert "redis://127.0.0.1:6379/0" not in values  # a URL without a password is not a secret


@pytest.mark.usefixtures("required_env")
def test_image_settings_default_and_parse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.registry_check, settings.registry_mirrors, settings.registry_cache_seconds) == (
        "warn",
        {},
        3600,
    )
    assert (settings.rollout_fail_restarts, settings.rollout_fail_pull_errors) == (3, 2)
    monkeypatch.setenv("REGISTRY_CHECK", "require")
    monkeypatch.setenv("REGISTRY_MIRRORS", '{"quay.io": "http://127.0.0.1:5000/quay.io"}')
    settings = load_settings()
    assert settings.registry_check == "require"
    assert settings.registry_mirrors == {"quay.io": "http://127.0.0.1:5000/quay.io"}


@pytest.mark.usefixtures("required_env")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REGISTRY_CHECK", "sometimes"),
        ("REGISTRY_MIRRORS", '{"quay.io": "ftp://mirror"}'),
        ("REGISTRY_MIRRORS", "not json"),
        ("ROLLOUT_FAIL_PULL_ERRORS", "3"),
    ],
)
def test_bad_image_settings_stop_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()
