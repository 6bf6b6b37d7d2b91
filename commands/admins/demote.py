"""`admin demote <email>`: remove the role admin from a LiteMaaS user (other roles stay)."""

from __future__ import annotations

from commands.admins.roles import RoleChange


class AdminDemoteOperation(RoleChange):
    """Take the admin role from a LiteMaaS user (other roles stay; applies at their next login)."""

    name = "admin demote"
    adding = False
