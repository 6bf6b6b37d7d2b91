"""The model catalogue: LiteLLM's deployments against the LiteMaaS `models` table.

Operations: `models list`, `models verify <id>` (viewer), `models add`, `models remove <id>` (admin +
approval), `models sync` (operator). `deployments.py` reads LiteLLM, `catalogue.py` the LiteMaaS
database, `compare.py` says what does not match and the fix; `catalogue_sync.py` asks the backend to
sync after a change.
"""
