"""How backups read in results: per-target outcomes of `backup now` and per-target lists of `backup list`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from commands.backup.distribute import TargetOutcome
from commands.backup.listing import TargetContents
from commands.backup.manifest import BackupManifest, Verification, human_size
from commands.contract import Section

LIST_LIMIT = 20  # backups shown per target by `backup list`; older ones are counted


def when(moment: datetime) -> str:
    """A backup's time as shown: `2026-06-18 02:00:00 UTC`."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(span: timedelta) -> str:
    """A span in the two largest units: "3 days 4 h", "5 h 12 min", "12 min"."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def file_sections(manifest: BackupManifest, *, with_paths: bool) -> tuple[Section, ...]:
    """A section per dumped database; `with_paths` when the local copy is kept."""
    sections: list[Section] = []
    for f in manifest.files:
        fields = {"size": human_size(f.size), "sha256": f.sha256[:16], "server version": f.server_version}
        if with_paths:
            fields["path"] = str(f.path)
        sections.append(Section(title=f.database, fields=fields))
    return tuple(sections)


def outcome_section(outcome: TargetOutcome, keep: int) -> Section:
    """`stored` or `failed: reason`, and what retention did."""
    fields = {"status": "stored" if outcome.stored else f"failed: {outcome.error}"}
    if outcome.stored:
        retention = (
            f"deleted {plural(outcome.deleted, 'old backup')}" if outcome.deleted else "nothing to delete"
        )
        if outcome.retention_error:
            retention += f"; stopped: {outcome.retention_error}"
        fields["retention"] = f"{retention} (keeping the newest {keep})"
    return Section(title=outcome.target, fields=fields)


def backup_summary(manifest: BackupManifest, outcomes: Sequence[TargetOutcome]) -> tuple[bool, str]:
    """(ok, summary): ok only when every target has its copy."""
    stored = [o for o in outcomes if o.stored]
    failed = [o for o in outcomes if not o.stored]
    databases = " and ".join(f.database for f in manifest.files)
    size = human_size(manifest.total_size)
    if not failed:
        where = ", ".join(o.target for o in stored)
        return True, f"Backup {manifest.id} done: {databases}, {size}, stored in {where}"
    reasons = "; ".join(f"{o.target}: {o.error}" for o in failed)
    return (
        False,
        f"Backup {manifest.id} ({databases}, {size}) stored in {len(stored)} of "
        f"{plural(len(outcomes), 'target')}; failed: {reasons}",
    )


def verification_text(verification: Verification | None) -> str:
    """A backup's last verify as listed: `never verified`, `verified 2026-… UTC`, `verify FAILED …: why`."""
    if verification is None:
        return "never verified"
    if verification.ok:
        return f"verified {when(verification.at)}"
    reason = verification.summary.split(" failed verify: ", 1)[-1]
    return f"verify FAILED {when(verification.at)}: {reason}"


def backup_line(
    backup_id: str,
    created_at: datetime,
    size: int,
    databases: Sequence[str],
    verification: Verification | None = None,
) -> str:
    """One backup in a list: id, time, size, databases, last verify."""
    return (
        f"{backup_id} · {when(created_at)} · {human_size(size)} · {', '.join(databases) or 'no files'}"
        f" · {verification_text(verification)}"
    )


def contents_section(contents: TargetContents) -> Section:
    """A target's backups newest first (at most LIST_LIMIT), or the reason it cannot be read."""
    if contents.listing is None:
        return Section(title=contents.target, fields={"status": f"cannot be read: {contents.error}"})
    backups = contents.listing.backups
    fields = {"backups": str(len(backups))}
    if contents.listing.skipped:
        fields["unreadable manifests"] = f"{contents.listing.skipped} (skipped)"
    lines = [
        backup_line(b.id, b.created_at, b.total_size, [d for d, _ in b.files], b.verification)
        for b in backups[:LIST_LIMIT]
    ]
    if len(backups) > LIST_LIMIT:
        lines.append(f"… and {plural(len(backups) - LIST_LIMIT, 'older backup')}")
    return Section(title=contents.target, fields=fields, lines=tuple(lines) or ("no backups yet",))
