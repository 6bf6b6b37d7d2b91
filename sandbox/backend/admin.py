"""The backend's admin API in the emulator: `ltm_admin_` key auth and `POST /api/v1/models/sync`.

Order of a request, as Fastify runs the route: the body is parsed and validated first (`body.py`: a bad
body is 400 even without a key), then `fastify.authenticate`: the header value loses a leading
`Bearer ` (exactly that, case-sensitive: `bearer x` stays `bearer x`), and only a token starting with
`ltm_admin_` AND listed in `ADMIN_API_KEYS` is an admin; any other token (no prefix → treated as a
JWT, a wrong `ltm_admin_` key, LiteLLM's master key, a user's `sk-` key) or no header is the one
generic 401 (`errors.unauthorized`). A token is never echoed back.
"""

from __future__ import annotations

from sandbox.backend.body import sync_options
from sandbox.backend.errors import unauthorized
from sandbox.backend.state import BackendState
from sandbox.backend.sync import SyncFailed, SyncOutcome, record_api_access, run_sync
from sandbox.litellm.server import Request, Response

ADMIN_PREFIX = "ltm_admin_"
SYNC_PATH = "/api/v1/models/sync"


def is_admin(state: BackendState, request: Request) -> bool:
    """True for a listed `ltm_admin_` key, with or without the exact word `Bearer `."""
    token = request.headers.get("authorization", "").strip()
    token = token.removeprefix("Bearer ")
    return token.startswith(ADMIN_PREFIX) and token in state.admin_keys


def models_sync(state: BackendState, request: Request) -> Response:
    """`POST /api/v1/models/sync` (`models:write`): 200 with the counts, also when the sync failed."""
    options = sync_options(request)
    if isinstance(options, Response):
        return options
    if not is_admin(state, request):
        return unauthorized(request)
    with state.sync_lock:
        try:
            outcome = run_sync(
                state.sync, force_update=options.force_update, mark_unavailable=options.mark_unavailable
            )
        except SyncFailed as exc:
            outcome = SyncOutcome(errors=[f"Synchronization failed: {exc}"])
    state.record_sync(outcome)
    record_api_access(state.sync.database_url, 200)
    return Response(200, outcome.body())
