"""`admin promote <email>`: add the role admin to a LiteMaaS user."""

from __future__ import annotations

from commands.admins.roles import RoleChange


class AdminPromoteOperation(RoleChange):
    """Give a LiteMaaS user the admin role (added to their roles; applies at their next login)."""

    name = "admin promote"
    adding = True
