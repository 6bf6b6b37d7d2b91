"""What `admin promote` and `admin demote` share: find the user, add or remove the one role `admin`.

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
from typing import Any

import psycopg
from pydantic import Field, field_validator

from commands.clients.databases import database_problem, litemaas_connection
from commands.contract import (
    Args,
    Change,
    Event,
    Operation,
    OperationError,
    Plan,
    Result,
    Section,
)
from commands.environment import Environment
from commands.targets import USERS

ADMIN = "admin"
ADMIN_READONLY = "admin-readonly"
NEXT_LOGIN = (
    "applies at the user's next login (the backend reads roles from the login token, which lasts up to "
    "JWT_EXPIRES_IN, 24h by default)"
)
GROUP_WARNING = (
    "login merges roles and never removes one: if the user is in the OpenShift group litemaas-admins "
    "(or administrators) or in INITIAL_ADMIN_USERS, the next login makes them admin again — remove them "
    "there too"
)
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


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


def roles_text(roles: Sequence[str]) -> str:
    return "{" + ",".join(roles) + "}"


class RoleChange(Operation[EmailArgs]):
    """Shared plan/execute of promote and demote: add or remove the one role `admin`."""

    args_model = EmailArgs
    mutating = True
    default_role = "admin"
    default_approval = True
    adding: bool

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
            summary = f"{email} is already admin (roles {roles_text(roles)})"
            return Plan(summary, USERS, noop=True, observed=observed)
        if not self.adding and ADMIN not in roles:
            summary = f"{email} is not admin (roles {roles_text(roles)})"
            return Plan(summary, USERS, noop=True, observed=observed)
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
            target=USERS,
            changes=(Change(target, "roles", roles_text(roles), roles_text(after)),),
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
            fields={"roles before": roles_text(before), "roles after": roles_text(after)},
        )
        warnings = () if self.adding else (GROUP_WARNING,)
        yield Result(
            ok=True,
            summary=f"{email} {did}; this {NEXT_LOGIN}",
            sections=(section,),
            warnings=warnings,
        )
