"""LiteLLM proxy emulator for tests and the demo (litellm-facts.md §2): for now its health endpoints.

`LiteLLMSandbox().start()` serves it on 127.0.0.1; `state.py` holds what it knows, `router.py` maps
paths to handlers, `server.py` is the HTTP transport. The next issue grows it into the admin API
backed by real tables. Never imports `bot` or `commands`.
"""

from sandbox.litellm.sandbox import LiteLLMSandbox
from sandbox.litellm.server import RecordedRequest

__all__ = ["LiteLLMSandbox", "RecordedRequest"]
