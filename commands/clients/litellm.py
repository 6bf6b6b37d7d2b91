"""Client of the LiteLLM proxy's admin API (litellm-facts.md §2-§4), for the key and model operations.

- httpx with explicit connect/read/write/pool timeouts; the master key goes in `Authorization: Bearer`.
- Retries with exponential backoff only where repeating cannot do harm: idempotent GETs (connection
  failures, timeouts, 502/503/504), and any request whose connection failed before it was sent.
  A POST that may have reached the proxy (read timeout, 5xx) is never repeated: the caller decides.
- `block_key` / `unblock_key` send `POST /key/block|unblock` (reversible; a blocked key is refused).
- `delete_keys` sends `POST /key/delete` (the route is POST-only: the seed's CronJob sent HTTP
  DELETE and deleted nothing). Plaintext `sk-` keys are hashed to their tokens before they leave this
  process, so the wire, the proxy's logs and the answer only ever carry tokens.
- Errors are `LiteLLMError(status, message)`: plain words, the proxy's own message clipped, every
  `sk-…` in it masked. No key ever appears in an error, a log line or a repr.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from commands.clients.credentials import litellm_master_key
from commands.contract import OperationError
from commands.environment import Environment

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100  # /key/list refuses size > 100 with 422 (facts §3.3)
CONNECT_TIMEOUT = 5.0
RETRY_STATUSES = frozenset({502, 503, 504})
MESSAGE_LIMIT = 200

_SK = re.compile(r"sk-[A-Za-z0-9_\-.]*")


def token_of(key_or_token: str) -> str:
    """LiteLLM's stored token: sha256 hex of an `sk-` key; anything else is taken as a token already."""
    if key_or_token.startswith("sk-"):
        return hashlib.sha256(key_or_token.encode()).hexdigest()
    return key_or_token


def _scrub(text: str) -> str:
    flat = " ".join(_SK.sub("sk-***", text).split())
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 1] + "…"


class LiteLLMError(OperationError):
    """The proxy refused or could not be reached. `status` is the HTTP status, 0 when none came back."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = _scrub(message)
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"LiteLLMError(status={self.status}, message={self.message!r})"


@dataclass(frozen=True)
class KeyPage:
    """One page of `/key/list` with full objects (never the plaintext key)."""

    keys: list[dict[str, Any]]
    total_count: int
    current_page: int
    total_pages: int


def _detail(response: httpx.Response) -> str:
    """The proxy's own error text: `error.message`, FastAPI's `detail`, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MESSAGE_LIMIT]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        detail = body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return str(detail[0].get("msg", detail[0]))
        if isinstance(detail, dict):
            return str(detail.get("error", detail))
        if detail is not None:
            return str(detail)
    return str(body)[:MESSAGE_LIMIT]


class LiteLLMClient:
    """The admin API with the master key. Thread-safe (one httpx client); close() when done.

    With `http` (the environment's long-lived client of this URL) it borrows that client: no
    connection, SSL context or pool of its own, and close() leaves it open. The key and the timeout go
    with each request, so a borrowed client carries neither."""

    def __init__(
        self,
        base_url: str,
        master_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = 2,
        backoff: float = 0.25,
        http: httpx.Client | None = None,
    ) -> None:
        self._retries = max(0, retries)
        self._backoff = backoff
        self._headers = {"Authorization": f"Bearer {master_key}"}
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
        self._owned = http is None
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), transport=transport)

    def __repr__(self) -> str:
        return f"LiteLLMClient({str(self._http.base_url)!r})"

    # -- transport -----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
        retry_statuses: frozenset[int] = RETRY_STATUSES,
    ) -> httpx.Response:
        """One request with the retry policy; a response whose status is in `ok` or an error."""
        idempotent = method == "GET"
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    headers=self._headers,
                    timeout=self._timeout,
                    follow_redirects=False,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing was sent: repeating is safe for any method.
                failure = LiteLLMError(0, f"LiteLLM is unreachable ({type(exc).__name__}: {exc})")
            except httpx.TimeoutException as exc:
                failure = LiteLLMError(
                    0, f"LiteLLM did not answer {method} {path} in time ({type(exc).__name__})"
                )
                if not idempotent:
                    raise failure from None
            except httpx.HTTPError as exc:
                failure = LiteLLMError(0, f"LiteLLM request {method} {path} failed ({type(exc).__name__})")
                if not idempotent:
                    raise failure from None
            else:
                if response.status_code in ok:
                    return response
                failure = LiteLLMError(
                    response.status_code,
                    f"LiteLLM answered {response.status_code} to {method} {path}: {_detail(response)}",
                )
                if not (idempotent and response.status_code in retry_statuses):
                    raise failure
            if attempt >= self._retries:
                raise failure
            delay = self._backoff * (2**attempt)
            log.debug("litellm: %s %s failed (%s), retrying in %.2fs", method, path, failure.status, delay)
            time.sleep(delay)
            attempt += 1

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise LiteLLMError(
                response.status_code, "LiteLLM answered with something that is not JSON"
            ) from None

    def _unless_not_found(self, method: str, path: str, **request: Any) -> Any:
        """The JSON answer, or None for the proxy's own 404 (an error body: no such key); a 404
        without one (no such route: a wrong URL) is an error."""
        response = self._send(method, path, ok=(200, 404), **request)
        body = self._json(response)
        if response.status_code != 404:
            return body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return None
        raise LiteLLMError(404, f"LiteLLM answered 404 to {method} {path}: {_detail(response)}")

    # -- keys ----------------------------------------------------------------------------------

    def list_keys(self, page: int = 1, size: int = 100, key_alias: str | None = None) -> KeyPage:
        """One page of keys as full objects (`size` 1..100, LiteLLM's bounds)."""
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be >= 1 and size 1..{MAX_PAGE_SIZE}")
        params: dict[str, Any] = {"page": page, "size": size, "return_full_object": "true"}
        if key_alias is not None:
            params["key_alias"] = key_alias
        body = self._json(self._send("GET", "/key/list", params=params))
        try:
            keys = [k for k in body["keys"] if isinstance(k, dict)]
            total = int(body.get("total_count") or 0)
            current = int(body.get("current_page") or page)
            pages = body.get("total_pages")
            total_pages = int(pages) if pages is not None else math.ceil(total / size)
        except (KeyError, TypeError, ValueError):
            raise LiteLLMError(200, "LiteLLM's /key/list answer has an unexpected shape") from None
        return KeyPage(keys, total, current, total_pages)

    def iter_keys(self, size: int = 500) -> Iterator[dict[str, Any]]:
        """Every key (full objects), page after page, holding one page in memory at a time.

        LiteLLM serves at most 100 keys a page, so `size` is capped at 100. Pages are numbered
        over the live table: a caller deleting keys while iterating must collect first or restart
        from page 1, or it skips keys.
        """
        per_page = max(1, min(size, MAX_PAGE_SIZE))
        page = 1
        while True:
            batch = self.list_keys(page=page, size=per_page)
            yield from batch.keys
            if not batch.keys or page >= batch.total_pages:
                return
            page += 1

    def key_info(self, key_or_token: str) -> dict[str, Any] | None:
        """The key's `info` (with `status`: active, expired, revoked or deleted), None when unknown.

        A plaintext key is sent as its token. Deleted keys answer with `status: deleted` (facts §3.2).
        """
        if not key_or_token:
            raise ValueError("key_info needs a key or a token")
        body = self._unless_not_found("GET", "/key/info", params={"key": token_of(key_or_token)})
        if body is None:
            return None
        if not isinstance(body, dict):
            raise LiteLLMError(200, "LiteLLM's /key/info answer has an unexpected shape")
        info = body.get("info", body)  # v1.81 nests {key, info}; older proxies answered flat
        return info if isinstance(info, dict) else None

    def delete_keys(self, *, keys: Sequence[str] = (), key_aliases: Sequence[str] = ()) -> list[str]:
        """Delete by keys/tokens and/or aliases; the tokens and aliases LiteLLM reported deleted.

        Sends `POST /key/delete` (never HTTP DELETE), once for `keys` (as tokens) and once for
        `key_aliases` (LiteLLM ignores aliases when keys are given). LiteLLM's 404 "No keys found"
        means none of them exists: `[]`. Empty lists send nothing. LiteLLM echoes what was asked
        when at least one matched; either way every listed key is absent afterwards.
        """
        confirmed: list[str] = []
        for field, values in (("keys", [token_of(k) for k in keys]), ("key_aliases", list(key_aliases))):
            if not values:
                continue
            body = self._unless_not_found("POST", "/key/delete", json={field: values})
            if body is None:
                continue  # "No keys found"
            deleted = body.get("deleted_keys") if isinstance(body, dict) else None
            if not isinstance(deleted, list):
                raise LiteLLMError(200, "LiteLLM's /key/delete answer has no deleted_keys list")
            confirmed.extend(str(item) for item in deleted)
        return confirmed

    def block_key(self, key_or_token: str) -> bool:
        """`POST /key/block`: the key is refused from now on (reversible with `unblock_key`).

        True when LiteLLM blocked it, False when it has no such key (404); a plaintext key is sent
        as its token. Not retried on a timeout (the caller re-reads the state).
        """
        return self._set_blocked("/key/block", key_or_token)

    def unblock_key(self, key_or_token: str) -> bool:
        """`POST /key/unblock`: undoes `block_key`; False when LiteLLM has no such key."""
        return self._set_blocked("/key/unblock", key_or_token)

    def _set_blocked(self, path: str, key_or_token: str) -> bool:
        if not key_or_token:
            raise ValueError(f"{path} needs a key or a token")
        body = self._unless_not_found("POST", path, json={"key": token_of(key_or_token)})
        if body is None:
            return False
        if not isinstance(body, dict):
            raise LiteLLMError(200, f"LiteLLM's {path} answer has an unexpected shape")
        return True

    def generate_key(self, **fields: Any) -> dict[str, Any]:
        """POST /key/generate; the answer carries the plaintext `key` once: never log or echo it."""
        body = self._json(self._send("POST", "/key/generate", json=fields))
        if not isinstance(body, dict) or "token" not in body:
            raise LiteLLMError(200, "LiteLLM's /key/generate answer has no token")
        return body

    # -- models --------------------------------------------------------------------------------

    def model_info(self) -> list[dict[str, Any]]:
        """Every model deployment (`/model/info` `data`; `api_key` already removed by the proxy)."""
        body = self._json(self._send("GET", "/model/info"))
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise LiteLLMError(200, "LiteLLM's /model/info answer has no data list")
        return [entry for entry in data if isinstance(entry, dict)]

    def new_model(
        self, model_name: str, litellm_params: dict[str, Any], model_info: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST /model/new; the answer (`model_id`, encrypted `litellm_params`, …)."""
        payload: dict[str, Any] = {"model_name": model_name, "litellm_params": litellm_params}
        if model_info is not None:
            payload["model_info"] = model_info
        body = self._json(self._send("POST", "/model/new", json=payload))
        if not isinstance(body, dict):
            raise LiteLLMError(200, "LiteLLM's /model/new answer has an unexpected shape")
        return body

    def delete_model(self, model_id: str) -> None:
        """POST /model/delete; LiteLLMError(400) for an unknown id or a config-file model."""
        self._send("POST", "/model/delete", json={"id": model_id})

    # -- health --------------------------------------------------------------------------------

    def readiness(self) -> dict[str, Any]:
        """GET /health/readiness (no key needed); LiteLLMError(503) when the proxy is not ready."""
        body = self._json(self._send("GET", "/health/readiness", retry_statuses=frozenset()))
        return body if isinstance(body, dict) else {"status": str(body)}

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client when it is this client's own (a borrowed one stays open)."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> LiteLLMClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def litellm_client(env: Environment, *, timeout: float = 10.0) -> LiteLLMClient:
    """A client for `env`: URL from settings, master key from settings else `litellm-secret` (read per
    command, so a rotated key is used at once), on the environment's long-lived HTTP client.

    Raises OperationError (from `credentials`) when the key can be found nowhere.
    """
    key = litellm_master_key(env)
    return LiteLLMClient(env.litellm_url, key, timeout=timeout, http=env.services.http(env.litellm_url))
