"""`admin promote <email>`, `admin demote <email>`, `admin list`: LiteMaaS admins in `users.roles`.

Replaces `promote-admin.sh` (litemaas-facts.md §4.4) without its faults: it reads the LiteMaaS database
from settings or the `litemaas-db` Secret (not a hard-coded `-d litellm`), and it ADDS or REMOVES the
one role `admin` instead of overwriting the array (`admin-readonly`, `user`… stay). The stored spelling
is `admin-readonly` (§5). The user must exist (created at the first OAuth login), and the change takes
effect at the user's next login: the backend reads roles from the login token (§2.3). Login merges roles
from OpenShift groups and never removes one, so a demoted member of `litemaas-admins` is admin again at
the next login.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from pydantic import Field, field_validator

from commands.backup.databases import database_targets, last_meaningful_line, redact
from commands.contract import (
    Args,
    Change,
    Event,
    Operation,
    OperationError,
    Plan,
    Result,
    ResultFile,
    Section,
)
from commands.environment import Environment

ADMIN = "admin"
ADMIN_READONLY = "admin-readonly"
LOCK_TARGET = "litemaas/users"
NEXT_LOGIN = (
    "applies at the user's next login (the backend reads roles from the login token, which lasts up to "
    "JWT_EXPIRES_IN, 24h by default)"
)
GROUP_WARNING = (
    "login merges roles and never removes one: if the user is in the OpenShift group litemaas-admins "
    "(or administrators) or in INITIAL_ADMIN_USERS, the next login makes them admin again — remove them "
    "there too"
)
LIST_INLINE_LIMIT = 40
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def _dt(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else "never"


@contextmanager
def litemaas_connection(env: Environment) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the LiteMaaS database (settings, else the `litemaas-db` Secret).

    Raises OperationError saying plainly what failed; never a URL or password.
    """
    target = database_targets(env)[0]
    try:
        conn = psycopg.connect(make_conninfo("", **target.connect_kwargs()))
    except psycopg.Error as exc:
        reason = redact(last_meaningful_line(str(exc)), [target.password])
        raise OperationError(f"cannot reach the LiteMaaS database ({target.where}): {reason}") from None
    try:
        yield conn
    finally:
        conn.close()


def database_problem(exc: psycopg.Error, password: str = "") -> str:
    """A PostgreSQL failure in plain words (a missing `users` table means the wrong database)."""
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return (
            "the LiteMaaS tables are not in that database: LITEMAAS_DATABASE_URL (or DATABASE_URL of "
            "litemaas-db) must name the backend's database (litemaas_db since f4545df)"
        )
    return redact(last_meaningful_line(str(exc)), [password]) or type(exc).__name__


class EmailArgs(Args):
    """`admin promote|demote <email>`."""

    positional = ("email",)

    email: str = Field(max_length=255)

    @field_validator("email")
    @classmethod
    def _plausible_email(cls, value: str) -> str:
        value = value.strip().strip("<>").removeprefix("mailto:")
        if "|" in value:  # Slack auto-links: <mailto:a@b.c|a@b.c>
            value = value.split("|", 1)[1]
        if not _EMAIL.match(value):
            raise ValueError(f"{value[:60]!r} is not an email address (like jane@example.com)")
        return value


class ListArgs(Args):
    """`admin list`."""


def _find_user(conn: psycopg.Connection[Any], email: str) -> tuple[Any, str, list[str]]:
    """(id, stored email, roles) of the one user with that email (any case); OperationError otherwise."""
    rows = conn.execute(
        "SELECT id, email, COALESCE(roles, '{}') FROM users WHERE lower(email) = lower(%s) ORDER BY email",
        (email,),
    ).fetchall()
    if not rows:
        raise OperationError(
            f"no LiteMaaS user has the email {email}: the user must log in once first (LiteMaaS creates "
            "users at their first OAuth login); nothing changed"
        )
    if len(rows) > 1:
        raise OperationError(
            f"{len(rows)} users have an email equal to {email} ignoring case ("
            + ", ".join(str(r[1]) for r in rows)
            + "): type the exact one; nothing changed"
        )
    user_id, stored, roles = rows[0]
    return user_id, str(stored), [str(r) for r in roles]


def _roles_text(roles: Sequence[str]) -> str:
    return "{" + ",".join(roles) + "}"


class _RoleChange(Operation[EmailArgs]):
    """Shared plan/execute of promote and demote: add or remove the one role `admin`."""

    args_model = EmailArgs
    mutating = True
    default_role = "admin"
    default_approval = True
    adding: bool

    def lock_target(self, env: Environment, args: EmailArgs) -> str | None:
        return LOCK_TARGET

    def _after(self, roles: list[str]) -> list[str]:
        return [*roles, ADMIN] if self.adding else [r for r in roles if r != ADMIN]

    def _read(self, env: Environment, args: EmailArgs) -> tuple[Any, str, list[str], int]:
        """The user and the number of users holding `admin` now."""
        with litemaas_connection(env) as conn:
            try:
                user_id, email, roles = _find_user(conn, args.email)
                row = conn.execute("SELECT count(*) FROM users WHERE %s = ANY(roles)", (ADMIN,)).fetchone()
            except psycopg.Error as exc:
                raise OperationError(f"cannot read the LiteMaaS users: {database_problem(exc)}") from None
        return user_id, email, roles, int(row[0]) if row else 0

    def plan(self, env: Environment, args: EmailArgs) -> Plan:
        """Read the user's roles: a no-op when `admin` is already there (promote) or absent (demote)."""
        user_id, email, roles, admins = self._read(env, args)
        target = f"user/{email}"
        observed = {"user_id": str(user_id), "roles": roles}
        if self.adding and ADMIN in roles:
            summary = f"{email} is already admin (roles {_roles_text(roles)})"
            return Plan(summary, LOCK_TARGET, noop=True, observed=observed)
        if not self.adding and ADMIN not in roles:
            summary = f"{email} is not admin (roles {_roles_text(roles)})"
            return Plan(summary, LOCK_TARGET, noop=True, observed=observed)
        after = self._after(roles)
        risks = [NEXT_LOGIN]
        if self.adding:
            risks.append("an admin may change every model, key, subscription and user in the LiteMaaS portal")
        else:
            risks.append(GROUP_WARNING)
            if admins <= 1:
                risks.append("no user will hold admin afterwards (only ltm_admin_ keys and group logins)")
        verb = "Promote" if self.adding else "Demote"
        return Plan(
            summary=f"{verb} {email}: {'add' if self.adding else 'remove'} the role admin in users.roles",
            target=LOCK_TARGET,
            changes=(Change(target, "roles", _roles_text(roles), _roles_text(after)),),
            risks=tuple(risks),
            observed=observed,
        )

    def execute(self, env: Environment, args: EmailArgs, plan: Plan | None) -> Iterator[Event]:
        """One atomic UPDATE that adds/removes only `admin`, whatever else changed meanwhile."""
        statement = (
            "UPDATE users SET roles = array_append(COALESCE(roles, '{}'), %s) "
            "WHERE id = %s AND NOT (%s = ANY(COALESCE(roles, '{}'))) RETURNING roles"
            if self.adding
            else "UPDATE users SET roles = array_remove(roles, %s) "
            "WHERE id = %s AND %s = ANY(roles) RETURNING roles"
        )
        try:
            with litemaas_connection(env) as conn:
                try:
                    user_id, email, before = _find_user(conn, args.email)
                    row = conn.execute(statement, (ADMIN, user_id, ADMIN)).fetchone()
                    conn.commit()
                except psycopg.Error as exc:
                    yield Result(ok=False, summary=f"roles unchanged: {database_problem(exc)}")
                    return
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        if row is None:
            state = "already admin" if self.adding else "not admin"
            yield Result(ok=True, summary=f"{email} is {state}; nothing changed")
            return
        after = [str(r) for r in row[0]]
        did = "is now admin" if self.adding else "is no longer admin"
        section = Section(
            title=f"user {email}",
            fields={"roles before": _roles_text(before), "roles after": _roles_text(after)},
        )
        warnings = () if self.adding else (GROUP_WARNING,)
        yield Result(
            ok=True,
            summary=f"{email} {did}; this {NEXT_LOGIN}",
            sections=(section,),
            warnings=warnings,
        )


class AdminPromoteOperation(_RoleChange):
    """Give a LiteMaaS user the admin role (added to their roles; applies at their next login)."""

    name = "admin promote"
    usage = "admin promote <email> [--dry-run]"
    adding = True


class AdminDemoteOperation(_RoleChange):
    """Take the admin role from a LiteMaaS user (other roles stay; applies at their next login)."""

    name = "admin demote"
    usage = "admin demote <email> [--dry-run]"
    adding = False


class AdminListOperation(Operation[ListArgs]):
    """List LiteMaaS users holding admin or admin-readonly."""

    name = "admin list"
    args_model = ListArgs
    usage = "admin list"
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
            f"{email} ({username}) — {_roles_text(roles)} — last login {_dt(last)}"
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
