"""Silences in Alertmanager itself (API v2): a silence set in Slack on an alert that came from
Alertmanager is made there too, so Alertmanager stops sending it (and every other receiver too)."""

from __future__ import annotations

from datetime import datetime

import httpx


class AlertmanagerUnavailable(Exception):
    """Alertmanager refused or could not be reached; the message says which, without the URL's secrets."""


class AlertmanagerSilences:
    """`POST /api/v2/silences` and `DELETE /api/v2/silence/{id}` on one Alertmanager."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def create(
        self, labels: tuple[tuple[str, str], ...], ends_at: datetime, created_by: str, comment: str
    ) -> str:
        """A silence matching exactly these labels until `ends_at`; its id in Alertmanager."""
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels],
            "startsAt": datetime.now(ends_at.tzinfo).isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment or "silenced from Slack",
        }
        try:
            response = self.client.post("/api/v2/silences", json=body)
        except httpx.HTTPError as exc:
            raise AlertmanagerUnavailable(f"Alertmanager is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise AlertmanagerUnavailable(f"Alertmanager refused the silence (HTTP {response.status_code})")
        return str(response.json()["silenceID"])

    def expire(self, silence_id: str) -> None:
        """End the silence in Alertmanager now (an already expired one is fine)."""
        try:
            response = self.client.delete(f"/api/v2/silence/{silence_id}")
        except httpx.HTTPError as exc:
            raise AlertmanagerUnavailable(f"Alertmanager is unreachable ({type(exc).__name__})") from None
        if response.status_code not in (200, 404, 500):  # 500: "already expired" in some versions
            status = response.status_code
            raise AlertmanagerUnavailable(f"Alertmanager refused to end the silence (HTTP {status})")

    def close(self) -> None:
        self.client.close()
