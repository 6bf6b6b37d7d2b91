"""LiteMaaS backend emulator for tests and the demo (litemaas-facts.md §2): health, config, and the
admin API's model sync (`POST /api/v1/models/sync`, `ltm_admin_` keys only) on the real LiteMaaS tables.

`BackendSandbox(...).start()` serves it on 127.0.0.1; `state.py` holds what it knows, `router.py` maps
paths to handlers, `admin.py` is the admin auth and the sync endpoint, `body.py` Fastify's parsing and
validation of its body, `errors.py` the error bodies, `sync.py` the sync algorithm and `catalogue.py`
its rows; the HTTP transport is the one the LiteLLM emulator uses. Never imports `bot` or `commands`.
Its fidelity to 0.4.0 is proven by tests/contract/test_backend_contract.py.
"""

from sandbox.backend.sandbox import BackendSandbox
from sandbox.litellm.server import RecordedRequest

__all__ = ["BackendSandbox", "RecordedRequest"]
