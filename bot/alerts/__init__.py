"""Alerts: watchers and Alertmanager feed one pipeline that posts, edits and resolves Slack messages."""
