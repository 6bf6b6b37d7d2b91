"""The real LiteMaaS and LiteLLM schemas for tests, benchmarks and the demo.

- `create_litemaas_schema(url)`: the LiteMaaS backend tables of litemaas-facts.md §1 (`litemaas.sql`).
- `create_litellm_schema(url)`: LiteLLM's own migrations from the pinned `litellm-proxy-extras`.
- `TemplateDatabases` / `clone_database`: build each layout once per machine, clone it per test.

Both schemas can live in one database (the "shared" layout): LiteMaaS tables are plain lower case,
LiteLLM's are quoted `"LiteLLM_…"`.
"""

from sandbox.schemas.litellm import SchemaError, create_litellm_schema, migration_files
from sandbox.schemas.litemaas import LITEMAAS_TABLES, create_litemaas_schema, litemaas_sql
from sandbox.schemas.templates import (
    LAYOUTS,
    Layout,
    TemplateDatabases,
    clone_database,
    database_url,
    drop_database,
    schema_fingerprint,
)

__all__ = [
    "LAYOUTS",
    "LITEMAAS_TABLES",
    "Layout",
    "SchemaError",
    "TemplateDatabases",
    "clone_database",
    "create_litellm_schema",
    "create_litemaas_schema",
    "database_url",
    "drop_database",
    "litemaas_sql",
    "migration_files",
    "schema_fingerprint",
]
