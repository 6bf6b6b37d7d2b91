"""LiteLLM proxy emulator for tests and the demo (litellm-facts.md §2-§7): health and the admin API.

`LiteLLMSandbox(database_url=…).start()` serves it on 127.0.0.1, storing keys and models in
LiteLLM's real tables of that database. `state.py` holds what it knows, `router.py` maps paths to
handlers (`keys.py`, `models.py`), `database.py` is the storage, `failures.py` scripts failures,
`server.py` is the HTTP transport. Never imports `bot` or `commands`.
"""

from sandbox.litellm.sandbox import LiteLLMSandbox
from sandbox.litellm.server import RecordedRequest

__all__ = ["LiteLLMSandbox", "RecordedRequest"]
