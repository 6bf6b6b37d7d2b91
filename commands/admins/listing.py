"""`admin list`: LiteMaaS users holding admin or admin-readonly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from commands.admins.roles import ADMIN, ADMIN_READONLY, roles_text
from commands.clients.databases import database_problem, litemaas_connection
from commands.contract import Args, Event, Operation, OperationError, Plan, Result, ResultFile, Section
from commands.environment import Environment

LIST_INLINE_LIMIT = 40


class ListArgs(Args):
    """`admin list`."""


def _dt(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else "never"


class AdminListOperation(Operation[ListArgs]):
    """List LiteMaaS users holding admin or admin-readonly."""

    name = "admin list"
    args_model = ListArgs
    default_role = "viewer"

    def execute(self, env: Environment, args: ListArgs, plan: Plan | None) -> Iterator[Event]:
        try:
            with litemaas_connection(env) as conn:
                rows = conn.execute(
                    "SELECT email, username, roles, is_active, last_login_at FROM users "
                    "WHERE roles && %s::text[] ORDER BY (%s = ANY(roles)) DESC, lower(email)",
                    ([ADMIN, ADMIN_READONLY], ADMIN),
                ).fetchall()
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        except psycopg.Error as exc:
            yield Result(ok=False, summary=f"cannot read the LiteMaaS users: {database_problem(exc)}")
            return
        lines = [
            f"{email} ({username}) — {roles_text(roles)} — last login {_dt(last)}"
            + ("" if active else " — inactive")
            for email, username, roles, active, last in rows
        ]
        admins = sum(1 for r in rows if ADMIN in r[2])
        readonly = len(rows) - admins
        summary = f"{admins} admin(s), {readonly} admin-readonly"
        if not rows:
            yield Result(ok=True, summary="no LiteMaaS user holds admin or admin-readonly")
            return
        files: tuple[ResultFile, ...] = ()
        shown = lines
        if len(lines) > LIST_INLINE_LIMIT:
            shown = [
                *lines[:LIST_INLINE_LIMIT],
                f"… and {len(lines) - LIST_INLINE_LIMIT} more (see the file)",
            ]
            files = (ResultFile("litemaas-admins.txt", "LiteMaaS admins", "\n".join(lines) + "\n"),)
        yield Result(
            ok=True,
            summary=summary,
            sections=(Section(title="LiteMaaS admins (users.roles)", lines=tuple(shown)),),
            files=files,
        )
