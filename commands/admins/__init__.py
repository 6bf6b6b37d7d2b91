"""LiteMaaS admins in `users.roles`: `admin promote`, `admin demote`, `admin list`.

Replaces `promote-admin.sh` (litemaas-facts.md §4.4); `roles.py` holds what promote and demote share.
"""
