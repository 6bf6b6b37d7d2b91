"""Tags in semantic-version order: which tags are newer than the running one, which are nearest a
missing one.

A tag is versioned when it holds `MAJOR.MINOR.PATCH`. Plain tags (`0.5.0`, `v0.5.0`, `0.5.0-rc.1`) are
read as semantic versions with their pre-releases; decorated ones (`main-v1.81.0-stable-custom`) compare
only with tags of the same decoration (the same "flavour"), so LiteLLM's `main-v…-stable` line never
mixes with another build line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import semver

_CORE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
PLAIN_PREFIXES = ("", "v")


@dataclass(frozen=True)
class TagVersion:
    """A tag read as a version, with the flavour that decides what it may be compared with."""

    tag: str
    version: semver.Version
    flavour: str

    @property
    def prerelease(self) -> bool:
        return self.version.prerelease is not None


def parse_tag(tag: str) -> TagVersion | None:
    """The tag as a version, or None when it holds no `MAJOR.MINOR.PATCH`."""
    match = _CORE.search(tag)
    if match is None:
        return None
    prefix, rest = tag[: match.start()], tag[match.end() :]
    if prefix in PLAIN_PREFIXES and (not rest or rest[0] in "-+"):
        try:
            return TagVersion(tag, semver.Version.parse(tag[match.start() :]), f"{prefix}*")
        except ValueError:
            pass
    major, minor, patch = (int(g) for g in match.groups())
    return TagVersion(tag, semver.Version(major, minor, patch), f"{prefix}*{rest}")


def _comparable(tags: Iterable[str], flavour: str, prereleases: bool) -> list[TagVersion]:
    parsed = [parse_tag(t) for t in tags]
    same = [p for p in parsed if p is not None and p.flavour == flavour]
    return sorted((p for p in same if prereleases or not p.prerelease), key=lambda p: p.version, reverse=True)


def newer_tags(current: str, tags: Iterable[str], *, prereleases: bool = False) -> list[str]:
    """Tags of the current tag's flavour that are newer than it, newest first."""
    mine = parse_tag(current)
    if mine is None:
        return []
    return [p.tag for p in _comparable(tags, mine.flavour, prereleases) if p.version > mine.version]


def newest_tags(tags: Iterable[str], count: int, *, flavour: str = "*") -> list[str]:
    """The newest released (non-pre-release) tags of a flavour, newest first."""
    return [p.tag for p in _comparable(tags, flavour, False)][:count]


def nearest_tags(missing: str, tags: Iterable[str], count: int = 3) -> list[str]:
    """Existing tags nearest a missing one, newest first: its version neighbours (one above, the rest
    below) when it reads as a version, else the closest spellings."""
    tags = list(tags)
    wanted = parse_tag(missing)
    if wanted is not None:
        ordered = _comparable(tags, wanted.flavour, wanted.prerelease)
        if ordered:
            above = [p for p in ordered if p.version > wanted.version][-1:]
            below = [p for p in ordered if p.version < wanted.version]
            return [p.tag for p in (above + below)[:count]]
    return difflib.get_close_matches(missing, tags, n=count, cutoff=0.5)
