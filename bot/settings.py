"""The bot's settings: environment variables, an optional dotenv file and mounted secret files.

Environment variable names are the field names in upper case (no prefix). Precedence: explicit
overrides > real environment > dotenv file > secrets directory > defaults. Errors name the setting and
what is wrong, never its value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as _PydanticSettingsError

DEFAULT_SECRETS_DIR = Path("/var/run/secrets/litemaas-chatops")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A missing or invalid setting; `str()` is one line naming the setting, never its value."""


class Settings(BaseSettings):
    """Everything the bot needs to start; secrets are `SecretStr` so they never print."""

    model_config = SettingsConfigDict(case_sensitive=False, env_prefix="", extra="ignore")

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr
    slack_app_token: SecretStr | None = None  # Socket Mode when set
    slack_api_url: str = "https://slack.com/api/"
    slash_command: str = "/maas"
    kubeconfig: Path | None = None  # None: in-cluster configuration
    litemaas_namespace: str = "litellm-rhpds"
    bot_database_url: SecretStr
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    redis_prefix: str = "chatops:"
    litellm_redis_url: SecretStr = SecretStr("redis://litellm-redis:6379/0")
    access_config: Path
    port: int = Field(default=3000, ge=1, le=65535)
    rollout_timeout_seconds: float = Field(default=600, gt=0)
    worker_threads: int = Field(default=4, ge=1, le=64)
    lock_ttl_seconds: float = Field(default=30, ge=1, le=3600)  # a crashed holder's lock frees after this
    shutdown_grace_seconds: float = Field(default=20, ge=0, le=600)  # SIGTERM: wait for runs to stop
    reaper_interval_seconds: float = Field(default=15, ge=0.1, le=3600)  # marks what dead replicas left
    environment_name: str = "default"
    # several LiteMaaS deployments (bot/environments.py); unset: the one these settings describe
    environments_config: Path | None = None
    scale_bounds: dict[str, tuple[int, int]] = Field(default_factory=dict)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line (deployments)
    # the operated LiteMaaS: service URLs and databases (absent database URLs are read from the
    # namespace's `litemaas-db` Secret, as the seed's scripts do)
    litellm_url: str = "http://litellm:4000"
    backend_url: str = "http://litellm-backend:8080"
    litemaas_database_url: SecretStr | None = None
    litellm_database_url: SecretStr | None = None
    backup_dir: Path = Path("backups")
    litellm_master_key: SecretStr | None = None  # else litellm-secret / LITELLM_MASTER_KEY
    backend_admin_key: SecretStr | None = None  # else backend-secret / ADMIN_API_KEY
    # backups: where they go and how many to keep per target ("dir:///path" or "s3://bucket/prefix");
    # empty: the local BACKUP_DIR only
    backup_targets: list[str] = Field(default_factory=list)
    backup_keep: int = Field(default=12, ge=1, le=1000)
    # `backup verify` restores into scratch databases on this server (a URL of a database there);
    # unset: on the server of each dumped database
    backup_verify_database_url: SecretStr | None = None
    # alerts and schedules: the automation file, the Alertmanager receiver's token, leader election
    automation_config: Path | None = None
    alertmanager_token: SecretStr | None = None  # POST /alerts/alertmanager answers 401 without it
    alertmanager_url: str | None = None  # set: a silence of an Alertmanager alert is made there too
    leader_lease_name: str = "litemaas-chatops-leader"
    leader_lease_seconds: float = Field(default=15, ge=2, le=300)
    pod_name: str | None = None  # this replica's identity in the Lease (downward API); default host-pid
    # images: the registry pre-flight of upgrades and `versions`; when following a rollout gives up early
    registry_check: Literal["require", "warn", "off"] = "warn"
    registry_mirrors: dict[str, str] = Field(default_factory=dict)  # registry host -> http(s) URL[/prefix]
    registry_cache_seconds: float = Field(default=3600, ge=0, le=86400)
    rollout_fail_fast: bool = True
    rollout_fail_restarts: int = Field(default=3, ge=1, le=100)
    rollout_fail_pull_errors: int = Field(default=2, ge=1, le=2)
    rollout_fail_log_lines: int = Field(default=20, ge=0, le=200)

    @field_validator("slack_bot_token", "slack_signing_secret", "bot_database_url")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with 'xapp-'")
        return value

    @field_validator("litellm_url", "backend_url")
    @classmethod
    def _service_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("litemaas_database_url", "litellm_database_url")
    @classmethod
    def _operated_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("registry_mirrors")
    @classmethod
    def _mirrors(cls, value: dict[str, str]) -> dict[str, str]:
        for host, url in value.items():
            if not host.strip() or not re.match(r"^https?://[^/\s]+", url):
                raise ValueError("must map registry hosts to http(s) URLs")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("slash_command")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not re.fullmatch(r"/[a-z0-9_\-]{1,31}", value):
            raise ValueError("must start with '/' followed by lower-case letters, digits, '-' or '_'")
        return value

    @field_validator("litemaas_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _DNS1123_LABEL.match(value):
            raise ValueError("must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)")
        return value

    @field_validator("bot_database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        if urlsplit(value.get_secret_value()).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url", "litellm_redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        if urlsplit(value.get_secret_value()).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis:// (or rediss://, unix://) URL")
        return value

    @field_validator("access_config")
    @classmethod
    def _access_config(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("automation_config", "environments_config")
    @classmethod
    def _automation_config(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("leader_lease_name")
    @classmethod
    def _lease_name(cls, value: str) -> str:
        if not _DNS1123_LABEL.match(value):
            raise ValueError("must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)")
        return value

    @field_validator("backup_targets")
    @classmethod
    def _backup_targets(cls, value: list[str]) -> list[str]:
        for target in value:
            scheme = urlsplit(target).scheme
            if scheme not in ("dir", "s3") or not urlsplit(target).netloc + urlsplit(target).path:
                raise ValueError("each target must be dir:///path or s3://bucket/prefix")
        return value

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("scale_bounds")
    @classmethod
    def _bounds(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        for component, (low, high) in value.items():
            if low < 0 or high < low:
                raise ValueError(f"bounds of {component!r} must satisfy 0 <= min <= max")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    def secret_values(self) -> list[str]:
        """Every secret's plain value, plus the passwords inside secret URLs (for the redactor)."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                plain = value.get_secret_value()
                if "://" in plain:  # a URL is secret only through its password
                    password = _url_password(plain)
                    if password:
                        values += [plain, password]
                else:
                    values.append(plain)
        return [v for v in values if v]


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _describe(error: Any) -> str:
    """One clause for a pydantic error: `NAME: what is wrong` (the input value is never included)."""
    loc = error.get("loc") or ()
    name = str(loc[0]).upper() if loc else "SETTINGS"
    kind = error.get("type", "")
    if kind == "missing":
        return f"{name}: not set (environment variable or secret file)"
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error.get("msg", "")))
    else:
        message = str(error.get("msg", "is invalid"))
    message = message[:1].lower() + message[1:]
    return f"{name}: {message}".rstrip()


def _secrets_dir(explicit: Path | None) -> Path | None:
    if explicit is not None:
        chosen = explicit
    elif os.environ.get("SECRETS_DIR"):
        chosen = Path(os.environ["SECRETS_DIR"])
    elif DEFAULT_SECRETS_DIR.is_dir():
        return DEFAULT_SECRETS_DIR
    else:
        return None
    if not chosen.is_dir():
        raise SettingsError(f"SECRETS_DIR: directory {chosen} does not exist")
    return chosen


def load_settings(
    env_file: Path | None = None, secrets_dir: Path | None = None, **overrides: Any
) -> Settings:
    """Load and validate the settings; raise `SettingsError` (one line, no values) when any is wrong."""
    if env_file is not None and not env_file.is_file():
        raise SettingsError(f"env file {env_file} does not exist")
    directory = _secrets_dir(secrets_dir)
    try:
        return Settings(
            _env_file=env_file,  # type: ignore[call-arg]
            _secrets_dir=directory,
            **overrides,
        )
    except ValidationError as exc:
        raise SettingsError("invalid settings: " + "; ".join(_describe(e) for e in exc.errors())) from None
    except _PydanticSettingsError as exc:
        field = re.search(r'field "([^"]+)"', str(exc))
        name = field.group(1).upper() if field else "a setting"
        raise SettingsError(f"invalid settings: {name}: not valid JSON") from None
