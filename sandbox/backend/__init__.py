"""LiteMaaS backend emulator for tests and the demo (litemaas-facts.md §2.4): health and config.

`BackendSandbox().start()` serves it on 127.0.0.1; `state.py` holds what it knows, `router.py` maps
paths to handlers; the HTTP transport is the one the LiteLLM emulator uses. The next issue grows it
into the admin API. Never imports `bot` or `commands`.
"""

from sandbox.backend.sandbox import BackendSandbox
from sandbox.litellm.server import RecordedRequest

__all__ = ["BackendSandbox", "RecordedRequest"]
