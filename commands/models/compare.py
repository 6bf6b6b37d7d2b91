"""LiteLLM's deployments against the LiteMaaS catalogue, one model name at a time; pure code, no I/O.

What counts as wrong, and the fix offered (litemaas-facts §1.4, §1.5, §2.2, §4.6, §6.1, §6.10):
- in LiteLLM only: users cannot subscribe (`subscriptions_model_id_fkey`) → `models sync`;
- in the catalogue only, still `available`: requests fail → `models sync` marks it unavailable;
- in both but `unavailable`: sync flips it back → `models sync`;
- `litellm_model_id` ≠ every LiteLLM id (the seed's playbook writes the model name): the portal's
  delete would miss it → `models sync` rewrites it;
- `unavailable` with active subscriptions: sync will not cascade again → re-add the model;
- several LiteLLM deployments of one name: maybe duplicates → `models remove <id>` for the extra one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from commands.models.catalogue import CatalogueModel
from commands.models.deployments import Deployment

SYNC_FIX = "/maas models sync"


@dataclass(frozen=True)
class Problem:
    """Something wrong with one model, and the command (or step) that fixes it."""

    text: str
    fix: str


@dataclass(frozen=True)
class ModelView:
    """One model name as both sides see it."""

    name: str
    deployments: tuple[Deployment, ...]
    catalogue: CatalogueModel | None

    @property
    def where(self) -> str:
        if self.deployments and self.catalogue is not None:
            return "both"
        return "only LiteLLM" if self.deployments else "only catalogue"

    @property
    def availability(self) -> str:
        return self.catalogue.availability if self.catalogue is not None else "—"

    @property
    def id_match(self) -> bool | None:
        """True/False when both sides have the model, None when there is nothing to compare."""
        if self.catalogue is None or not self.deployments:
            return None
        return self.catalogue.litellm_model_id in {d.id for d in self.deployments}

    def facts(self) -> str:
        """Where the model is, its availability and whether the ids match: what the sections show."""
        count = len(self.deployments)
        several = f" ({count} deployments)" if count > 1 else ""
        litellm = f"in LiteLLM{several}" if count else "not in LiteLLM"
        if self.catalogue is None:
            return f"{litellm}; not in the catalogue"
        catalogue = f"in the catalogue, {self.catalogue.availability}"
        match = self.id_match
        ids = "" if match is None else (", ids match" if match else ", ids differ")
        return f"{litellm} and {catalogue}{ids}" if count else f"{litellm}; {catalogue}"

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        row = self.catalogue
        if row is None:
            found.append(
                Problem(
                    "in LiteLLM but not in the catalogue: users cannot subscribe "
                    "(subscriptions_model_id_fkey)",
                    SYNC_FIX,
                )
            )
        elif not self.deployments:
            if row.available:
                found.append(
                    Problem(
                        "in the catalogue as available but not in LiteLLM: requests to it fail",
                        f"{SYNC_FIX} (marks it unavailable"
                        + (
                            f" and deactivates its {row.active_subscriptions} active subscription(s))"
                            if row.active_subscriptions
                            else ")"
                        ),
                    )
                )
        else:
            if not row.available:
                found.append(
                    Problem(
                        "in LiteLLM but unavailable in the catalogue: users cannot pick it",
                        f"{SYNC_FIX} (makes it available; inactive subscriptions stay inactive)",
                    )
                )
            if not self.id_match:
                ids = ", ".join(d.id for d in self.deployments)
                stored = row.litellm_model_id or "none"
                origin = " (written by the seed's playbook)" if stored == row.id else ""
                found.append(
                    Problem(
                        f"catalogue litellm_model_id {stored}{origin} does not match LiteLLM's id {ids}: "
                        "a delete from the portal would miss it",
                        f"{SYNC_FIX} (rewrites litellm_model_id)",
                    )
                )
        if row is not None and not row.available and row.active_subscriptions:
            found.append(
                Problem(
                    f"unavailable with {row.active_subscriptions} active subscription(s): "
                    "they cannot be used and a sync will not deactivate them",
                    f"/maas models add model_name={row.id} … to restore it, "
                    "or have the users' subscriptions cancelled in the portal",
                )
            )
        if len(self.deployments) > 1:
            found.append(
                Problem(
                    f"{len(self.deployments)} deployments in LiteLLM (duplicates?)",
                    "keep one: /maas models remove <id> for each extra deployment id",
                )
            )
        return found


def compare(deployments: Iterable[Deployment], catalogue: Mapping[str, CatalogueModel]) -> list[ModelView]:
    """One view per model name found on either side, sorted by name."""
    by_name: dict[str, list[Deployment]] = {}
    for deployment in deployments:
        by_name.setdefault(deployment.model_name, []).append(deployment)
    names = sorted(set(by_name) | set(catalogue))
    return [ModelView(name, tuple(by_name.get(name, ())), catalogue.get(name)) for name in names]
