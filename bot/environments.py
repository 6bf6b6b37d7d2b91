"""The environments file (several LiteMaaS deployments served by one bot) and choosing one per command.

Without the file, today's settings define one environment, `default`, and nothing changes. With it,
every command names its environment with `--env NAME` or runs in a channel bound to one; a mutating
command that names none in a channel serving several is refused with the choices (no naked commands).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.yaml_lines import ConfigFileError, describe, line_of, read_yaml
from commands.environment import Environment
from commands.text import shown

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ENV_OPTION = re.compile(r"(?:^|\s)--env(?:=|\s+|$)(\S*)")


class EnvironmentsConfigError(ConfigFileError):
    """The environments file cannot be used; the message names the file and the line."""


def _label(value: str) -> str:
    if not _DNS1123_LABEL.fullmatch(value):
        raise ValueError("must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


Namespace = Annotated[str, AfterValidator(_label)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentEntry(_Strict):
    """A component's names in this environment, where they differ from LiteMaaS's defaults."""

    deployment: str | None = None
    container: str | None = None
    init_containers: list[str] | None = None


class EnvironmentEntry(_Strict):
    """One environment of the file: where it runs and how the bot reaches it.

    Absent service URLs are the namespace's in-cluster Services; absent database URLs and credentials
    are read from the namespace's Secrets (as with one environment), never borrowed from another."""

    namespace: Namespace
    kubeconfig: Path | None = None  # None: in-cluster (the cluster the bot runs in)
    context: str | None = None  # a context of the kubeconfig; None: its current context
    production: bool = False
    components: dict[str, ComponentEntry] = Field(default_factory=dict)
    scale_bounds: dict[str, tuple[int, int]] = Field(default_factory=dict)
    litellm_url: HttpUrl | None = None
    backend_url: HttpUrl | None = None
    litellm_redis_url: SecretStr | None = None
    litemaas_database_url: SecretStr | None = None
    litellm_database_url: SecretStr | None = None
    litellm_master_key: SecretStr | None = None
    backend_admin_key: SecretStr | None = None
    backup_dir: Path | None = None  # None: BACKUP_DIR/<name>
    backup_targets: list[str] = Field(default_factory=list)
    backup_keep: int | None = Field(default=None, ge=1, le=1000)
    schedules: list[str] | None = None  # the automation file's schedules run here; None: all of them
    alert_channel: str | None = None  # None: the automation file's alert channel

    @field_validator("litemaas_database_url", "litellm_database_url")
    @classmethod
    def _database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("litellm_redis_url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("redis", "rediss"):
            raise ValueError("must be a redis:// URL")
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

    @field_validator("alert_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[CG][A-Z0-9]+", value):
            raise ValueError(f"malformed channel ID '{value}' (expected an ID like C0123ABCD)")
        return value

    def secret_values(self) -> list[str]:
        """The plain values of this entry's secrets and of the passwords in its URLs (for the redactor)."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                plain = value.get_secret_value()
                password = urlsplit(plain).password if "://" in plain else None
                values += [plain, password] if password else ([] if "://" in plain else [plain])
        return values


class EnvironmentsFile(_Strict):
    """The whole environments file: environments by name (the first is listed first everywhere)."""

    environments: dict[str, EnvironmentEntry] = Field(min_length=1)

    @field_validator("environments")
    @classmethod
    def _names(cls, value: dict[str, EnvironmentEntry]) -> dict[str, EnvironmentEntry]:
        for name in value:
            if not _NAME.fullmatch(name) or name == "all":
                raise ValueError(f"environment name {name!r} must be lower-case letters, digits and '-'")
        return value


def load_environments(path: Path) -> EnvironmentsFile:
    """Read and validate the environments file; every problem is said with the file and the line."""
    try:
        root, data = read_yaml(path, "environments file")
    except ConfigFileError as exc:
        raise EnvironmentsConfigError(str(exc)) from None
    try:
        config = EnvironmentsFile.model_validate(data)
    except ValidationError as exc:
        problems = sorted((line_of(root, tuple(e["loc"])), describe(e)) for e in exc.errors())
        raise EnvironmentsConfigError("\n".join(f"{path.name}:{line}: {m}" for line, m in problems)) from None
    taken: dict[tuple[str, str], str] = {}
    for name, entry in config.environments.items():
        key = (f"{entry.kubeconfig}#{entry.context or ''}", entry.namespace)
        if key in taken:
            line = line_of(root, ("environments", name, "namespace"))
            raise EnvironmentsConfigError(
                f"{path.name}:{line}: environment {name!r} has the same cluster and namespace "
                f"as {taken[key]!r}"
            )
        taken[key] = name
    return config


def environment_names(settings_environments: Path | None, single_name: str) -> list[str]:
    """The names of the environments served: the file's, or the one of the settings."""
    if settings_environments is None:
        return [single_name]
    return list(load_environments(settings_environments).environments)


# ---------------------------------------------------------------------------------------- choosing


def split_env(text: str) -> tuple[str | None, str]:
    """`--env NAME` (or `--env=NAME`) taken out of a command's text: (NAME or None, the rest)."""
    found = _ENV_OPTION.search(text)
    if found is None:
        return None, text
    rest = (text[: found.start()] + " " + text[found.end() :]).strip()
    return found.group(1).strip().lower(), rest


class UnknownEnvironment(Exception):
    """An environment name the bot does not serve; the message lists the names and a close match."""


@dataclass(frozen=True)
class Choice:
    """Where a command runs: one environment, or (read-only, none named, several served) all of them."""

    environments: tuple[Environment, ...]
    named: bool  # chosen by `--env` or the channel's binding (not by being the only one)

    @property
    def single(self) -> Environment | None:
        return self.environments[0] if len(self.environments) == 1 else None


class EnvironmentSet:
    """The environments this bot serves, in the file's order; `several` when it serves more than one."""

    def __init__(self, environments: list[Environment], *, from_file: bool) -> None:
        if not environments:
            raise ValueError("at least one environment")
        self._by_name = {env.name: env for env in environments}
        self.from_file = from_file

    def __iter__(self) -> Iterator[Environment]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    @property
    def several(self) -> bool:
        return len(self._by_name) > 1

    @property
    def first(self) -> Environment:
        """The first environment (the only one without an environments file)."""
        return next(iter(self._by_name.values()))

    def get(self, name: str) -> Environment:
        """The named environment, or `UnknownEnvironment` with the choices and a "did you mean"."""
        env = self._by_name.get(name)
        if env is not None:
            return env
        close = difflib.get_close_matches(name, self.names, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise UnknownEnvironment(
            f"unknown environment `{shown(name)}` (choose one of: {', '.join(self.names)}){hint}"
        )

    def find(self, name: str) -> Environment | None:
        """The named environment, or None (a stored operation's environment no longer served)."""
        return self._by_name.get(name)

    def choose(self, named: str | None, bound: str | None, *, mutating: bool) -> Choice | str:
        """The environment(s) a command runs in, or why it is refused (a naked mutating command, a
        name that does not match the channel's binding). Raises `UnknownEnvironment`."""
        if named is not None and not named:
            return f"`--env` needs a name: one of {', '.join(self.names)}"
        if named is not None:
            env = self.get(named)
            if bound is not None and bound != env.name:
                return (
                    f"this channel is bound to the `{bound}` environment; run `{env.name}` commands elsewhere"
                )
            return Choice((env,), named=True)
        if bound is not None:
            return Choice((self.get(bound),), named=True)
        if not self.several:
            return Choice((self.first,), named=False)
        if mutating:
            return (
                "this channel serves several environments, so a command that changes something must "
                f"name one: add `--env NAME` ({', '.join(self.names)})"
            )
        return Choice(tuple(self), named=False)

    def close(self) -> None:
        for env in self:
            env.close()
