"""The LiteMaaS backend schema (litemaas-facts.md §1) applied to a PostgreSQL database.

The DDL lives in `litemaas.sql` next to this module; it is idempotent, so applying it to a database
that already has it changes nothing (like the backend's own start-up migrations).
"""

from __future__ import annotations

from importlib import resources

import psycopg

LITEMAAS_TABLES: tuple[str, ...] = (
    "users",
    "teams",
    "team_members",
    "models",
    "subscriptions",
    "api_keys",
    "api_key_models",
    "audit_logs",
    "refresh_tokens",
    "oauth_sessions",
    "banner_announcements",
    "user_banner_dismissals",
    "banner_audit_log",
    "subscription_status_history",
    "daily_usage_cache",
    "branding_settings",
    "system_settings",
)


def litemaas_sql() -> str:
    """The text of `litemaas.sql` (also an input of the template fingerprint)."""
    return resources.files(__package__).joinpath("litemaas.sql").read_text(encoding="utf-8")


def create_litemaas_schema(url: str) -> None:
    """Create (or complete) the LiteMaaS tables, trigger and seed rows in the database at `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(litemaas_sql().encode())
