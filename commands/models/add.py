"""`models add`: register a model in LiteLLM (`POST /model/new`), then sync the LiteMaaS catalogue.

The arguments: required `model_name`, `litellm_model`, `api_base`, `api_key` (the seed's parameter
table, `manage_models.yml`, litemaas-facts §4.6), optional `description` ("AI model"), `api_version`,
`context_length`, `rpm`, `tpm`. They come typed as `key=value` words or from the Slack modal the bot
builds from `ModelAddArgs` (hence the titles and descriptions). `api_key` is a `SecretStr`: it goes to
LiteLLM only, never into a plan, a result, a progress line or an error.

Only what survives the next sync is written. Backend 0.4.0's sync rewrites `name` (= model_name),
`provider` (the prefix of litellm_model), `category` ("Language Model") and `supports_streaming` (true)
from LiteLLM at every sync (§9), so the seed's display_name / provider / category / supports_streaming
are not arguments (unknown arguments are refused), and the plan and the result say which fields come
from LiteLLM;
`context_length` goes to LiteLLM as `max_tokens`, from which the sync derives it; the description is
written after the sync, which keeps it. The backend's own admin route (`POST /api/v1/admin/models`,
which would also store `encrypted_api_key`) is not used: with an `ltm_admin_` key it registers the
model in LiteLLM and inserts the row, then fails with 500 writing its audit row (user id
`admin-api-key` into a uuid column) before it syncs or stores the key (0.4.0 source, seen running).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from commands.clients.litellm import LiteLLMError
from commands.contract import (
    SECRET_MASK,
    Args,
    Change,
    Event,
    FollowUp,
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    Section,
    shown_as,
)
from commands.environment import Environment
from commands.models.catalogue import read_model, read_shown, write_description
from commands.models.catalogue_sync import sync_catalogue
from commands.models.deployments import describe_litellm_error, open_litellm, read_deployments
from commands.targets import CATALOGUE

URL_MESSAGE = "api_base must be an http(s) URL, e.g. https://host.example.com/v1"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"
FROM_LITELLM = (
    "name, provider, category and streaming come from LiteLLM: the backend's sync rewrites them at every "
    "sync (name = model_name, provider = the prefix of litellm_model, category 'Language Model', "
    "streaming on); the description is kept"
)


class ModelAddArgs(Args):
    """`models add model_name=… litellm_model=… api_base=… api_key=… [description=…] [rpm=…] …`."""

    model_name: str = Field(
        json_schema_extra=shown_as("name"),
        title="Model name",
        description="Public name users pick; the catalogue id and LiteLLM's model_name (e.g. granite-3-8b)",
        min_length=1,
        max_length=255,
        pattern=NAME_PATTERN,
    )
    litellm_model: str = Field(
        json_schema_extra=shown_as("provider/model"),
        title="LiteLLM model",
        description="provider/model LiteLLM calls upstream (e.g. openai/granite-3-8b-instruct)",
        min_length=1,
        max_length=255,
        pattern=r"^\S+$",
    )
    api_base: str = Field(
        json_schema_extra=shown_as("https://…"),
        title="API base URL",
        description="http(s) URL of the upstream endpoint (e.g. https://granite.apps.example.com/v1)",
        max_length=500,
    )
    api_key: SecretStr = Field(
        json_schema_extra=shown_as("key"),
        title="API key",
        description="Key of the upstream endpoint; stored by LiteLLM, never shown",
        min_length=1,
    )
    api_version: str | None = Field(
        default=None, title="API version", description="Upstream API version (Azure-style endpoints)"
    )
    description: str = Field(
        default="AI model", title="Description", description="Shown in the portal", max_length=2000
    )
    context_length: int | None = Field(
        default=None, gt=0, title="Context length", description="Maximum tokens of context (optional)"
    )
    rpm: int | None = Field(
        default=None, gt=0, title="Requests per minute", description="LiteLLM rate limit (optional)"
    )
    tpm: int | None = Field(
        default=None, gt=0, title="Tokens per minute", description="LiteLLM rate limit (optional)"
    )

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        try:
            parts = urlsplit(value)
            host = parts.hostname
            _ = parts.port  # ValueError for a non-numeric or out-of-range port
        except ValueError:
            raise ValueError(URL_MESSAGE) from None
        if parts.scheme not in ("http", "https") or not host or any(ch.isspace() for ch in value):
            raise ValueError(URL_MESSAGE)
        if "@" in parts.netloc:
            raise ValueError("api_base must not carry credentials: give the key as api_key")
        return value

    @field_validator("api_version")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def litellm_params(self) -> dict[str, Any]:
        """The `litellm_params` of `/model/new`, as the seed sends them (with the real key)."""
        params: dict[str, Any] = {
            "model": self.litellm_model,
            "api_base": self.api_base,
            "api_key": self.api_key.get_secret_value(),
        }
        for name in ("api_version", "rpm", "tpm"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        return params

    def model_info(self) -> dict[str, Any]:
        """`model_info` of `/model/new`: what the backend's sync reads (max_tokens → context_length)."""
        info: dict[str, Any] = {"description": self.description}
        if self.context_length is not None:
            info["max_tokens"] = self.context_length
        return info

    def shown(self) -> dict[str, str]:
        """Every argument as shown on the card and in the result; `api_key` is left out."""
        return {
            "model_name": self.model_name,
            "litellm_model": self.litellm_model,
            "api_base": self.api_base,
            "api_version": self.api_version or "—",
            "description": self.description,
            "context_length": "—" if self.context_length is None else str(self.context_length),
            "rpm": "—" if self.rpm is None else str(self.rpm),
            "tpm": "—" if self.tpm is None else str(self.tpm),
        }

    def catalogue_row(self) -> dict[str, str]:
        """The catalogue row as every sync leaves it (`catalogue.SHOWN_COLUMNS`, as text)."""
        prefix, slash, _ = self.litellm_model.partition("/")
        return {
            "name": self.model_name,
            "provider": prefix if slash else "unknown",
            "category": "Language Model",
            "description": self.description,
            "context_length": "—" if self.context_length is None else str(self.context_length),
            "supports_streaming": "true",
        }


def _scrub(text: str, args: ModelAddArgs) -> str:
    """`text` with the api_key value removed, whatever echoed it."""
    secret = args.api_key.get_secret_value()
    return text.replace(secret, "***") if secret else text


def _catalogue_after_sync(env: Environment, args: ModelAddArgs) -> tuple[dict[str, str] | None, list[str]]:
    """Write the description, read the row back: (the row as shown, warnings)."""
    name = args.model_name
    try:
        row = read_shown(env, name) if write_description(env, name, args.description) else None
    except OperationError as exc:
        return None, [f"the description was not written: {exc}"]
    if row is None:
        return None, [
            f"the sync did not add {name} to the catalogue yet (LiteLLM may still be caching); "
            "run /maas models sync in a minute"
        ]
    expected = args.catalogue_row()
    differs = [column for column, value in expected.items() if row.get(column) != value]
    if differs:
        return row, [
            f"the catalogue row differs from the plan in {', '.join(differs)}: "
            f"check with /maas models verify {name}"
        ]
    return row, []


class ModelsAddOperation(Operation[ModelAddArgs]):
    """Add a model: register it in LiteLLM, then sync the LiteMaaS catalogue."""

    name = "models add"
    args_model = ModelAddArgs
    mutating = True
    default_role = "admin"
    default_approval = True
    modal: ClassVar[bool] = True

    def plan(self, env: Environment, args: ModelAddArgs) -> Plan:
        """Refuse a name LiteLLM or the catalogue already has (an unavailable catalogue row may be
        restored); show every argument but the key."""
        name = args.model_name
        existing = [d for d in read_deployments(env) if d.model_name == name]
        if existing:
            ids = ", ".join(d.id for d in existing)
            raise OperationError(
                f"LiteLLM already has a model named {name} (id {ids}); pick another name, "
                f"or check it with /maas models verify {name}"
            )
        row = read_model(env, name)
        risks: list[str] = []
        if row is not None and row.available:
            raise OperationError(
                f"the catalogue already has {name} (available, not in LiteLLM); "
                f"run /maas models verify {name} to see what is wrong with it"
            )
        if row is not None:
            risks.append(
                f"the catalogue already has {name} (unavailable): the sync makes it available again; "
                "its inactive subscriptions stay inactive until users re-subscribe"
            )
        target = f"model/{name}"
        changes = [Change(target, field, "—", value) for field, value in args.shown().items() if value != "—"]
        changes += [
            Change(f"catalogue/models/{name}", field, "—", value)
            for field, value in args.catalogue_row().items()
        ]
        risks.append(f"in the catalogue, {FROM_LITELLM}")
        return Plan(
            summary=f"Register {name} ({args.litellm_model}) in LiteLLM and sync the catalogue",
            target=CATALOGUE,
            changes=tuple(changes),
            risks=tuple(risks),
            observed={
                "model": name,
                "in_litellm": False,
                "catalogue": None if row is None else row.availability,
            },
        )

    def execute(self, env: Environment, args: ModelAddArgs, plan: Plan | None) -> Iterator[Event]:
        """`/model/new`, then the backend sync, then the description on the catalogue row."""
        name = args.model_name
        if args.api_key.get_secret_value() == SECRET_MASK:
            yield Result(
                ok=False,
                summary=f"{name} was not added: the api_key did not reach this run (it is never stored); "
                "request /maas models add again",
            )
            return
        if plan is None:
            try:
                plan = self.plan(env, args)
            except OperationError as exc:
                yield Result(ok=False, summary=f"{name} was not added: {_scrub(str(exc), args)}")
                return

        yield Progress(f"Registering {name} in LiteLLM")
        try:
            with open_litellm(env) as client:
                created = client.new_model(name, args.litellm_params(), args.model_info())
        except OperationError as exc:
            yield Result(ok=False, summary=f"{name} was not added: {_scrub(str(exc), args)}")
            return
        except LiteLLMError as exc:
            reason = _scrub(describe_litellm_error(exc), args)
            unsure = (
                f" It may have been registered anyway: check with /maas models verify {name} before retrying."
                if "in time" in exc.message
                else " Nothing was changed."
            )
            yield Result(
                ok=False,
                summary=f"Registering {name} in LiteLLM failed: {reason}.{unsure}",
                follow_ups=(FollowUp("Verify", f"models verify {name}"),),
            )
            return
        info = created.get("model_info") if isinstance(created, dict) else None
        model_id = str(created.get("model_id") or (info or {}).get("id") or "?")

        yield Progress(f"{name} is in LiteLLM (id {model_id}); syncing the catalogue")
        step = sync_catalogue(env, f"{name} is registered in LiteLLM")
        sections = [
            Section(
                title=f"model/{name}",
                fields={
                    "LiteLLM id": model_id,
                    "LiteLLM model": args.litellm_model,
                    "api_base": args.api_base,
                },
                lines=(step.line,) if step.ok else (),
            )
        ]
        warnings: list[str] = [] if step.ok else [step.line]
        if step.ok:
            row, problems = _catalogue_after_sync(env, args)
            warnings += problems
            if row is not None:
                sections.append(Section(title=f"catalogue/models/{name}", fields=row, lines=(FROM_LITELLM,)))
        summary = (
            f"{name} added: registered in LiteLLM and in the catalogue"
            if step.ok
            else f"{name} registered in LiteLLM; the catalogue will catch up at the next sync or restart"
        )
        yield Result(
            ok=True,
            summary=_scrub(summary, args),
            sections=tuple(sections),
            warnings=tuple(_scrub(w, args) for w in warnings),
            follow_ups=(FollowUp("Verify", f"models verify {name}"),),
        )
