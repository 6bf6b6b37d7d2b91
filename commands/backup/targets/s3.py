"""An S3 target (`s3://bucket/prefix`): `<prefix>/<id>/<database>.sql.gz`, then `<prefix>/<id>/manifest.json`.

boto3 is the optional `s3` extra, imported only when an S3 target is used. Credentials come from the
usual AWS chain (environment, shared files, instance or pod roles), never from the bot's settings; the
endpoint may be changed with AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, which boto3 reads itself. The
manifest is uploaded last and deleted first, so a backup is listed only when all of it is there; a
failed upload deletes every object of that backup. Reading a backup back downloads its files into a
local folder (removed again when the download fails). Error messages carry S3's code and message only.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from commands.backup.manifest import (
    MANIFEST_NAME,
    BackupManifest,
    Verification,
    parse_manifest,
    text_of,
    write_text_atomically,
)
from commands.backup.targets.base import BackupNotFound, StoredBackup, TargetListing
from commands.backup.targets.directory import plain_id
from commands.clients.databases import redact
from commands.contract import OperationError

MISSING_EXTRA = "S3 backups need the 's3' extra: pip install 'litemaas-chatops[s3]'"
MANIFEST_LIMIT = 1024 * 1024  # bytes read of one manifest
REASON_LIMIT = 300
DELETE_BATCH = 1000  # keys per DeleteObjects call (S3's limit)
_CREDENTIAL_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _boto() -> tuple[Any, Any, Any]:
    """(boto3, botocore.config.Config, s3transfer's TransferConfig); OperationError without the extra."""
    try:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config
    except ImportError:
        raise OperationError(MISSING_EXTRA) from None
    return boto3, Config, TransferConfig


def _errors() -> tuple[type[BaseException], ...]:
    """The exceptions an S3 call raises for a failure worth reporting (network, refusal, local file)."""
    try:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # then no S3 call ran: `_boto` reported the missing extra
        return (OSError,)
    return (BotoCoreError, ClientError, Boto3Error, OSError)


def _code(exc: BaseException) -> str:
    """S3's error code of a refused request ("NoSuchKey"), else ""."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get("Code", "")) if isinstance(error, dict) else ""


def describe(exc: BaseException) -> str:
    """A short, plain reason: S3's error code and message, or botocore's sentence; no credentials."""
    response: Any = getattr(exc, "response", None)
    if _code(exc):
        error = response["Error"]
        text = f"{error['Code']}: {error.get('Message') or 'no message'}"
    elif isinstance(exc, OSError):
        text = str(exc.strerror or exc)
    else:
        text = str(exc)
        # boto3's S3UploadFailedError: "Failed to upload <file> to <bucket>/<key>: <reason>"
        if text.startswith("Failed to upload ") and ": " in text:
            text = text.split(": ", 1)[1]
    secrets = [os.environ.get(name, "") for name in _CREDENTIAL_VARIABLES]
    line = redact(text, secrets).strip().splitlines()[0] if text.strip() else type(exc).__name__
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1] + "…"


class S3Target:
    """Backups kept in an S3 bucket (or any S3-compatible store) under a prefix."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client: Any = None
        self._transfer: Any = None

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _folder(self, backup_id: str) -> str:
        """The key prefix of one backup, ending in "/"."""
        return f"{self.prefix}/{backup_id}/" if self.prefix else f"{backup_id}/"

    def client(self) -> Any:
        """The boto3 S3 client, made on first use (bounded timeouts and retries)."""
        if self._client is None:
            boto3, config, transfer_config = _boto()
            self._client = boto3.session.Session().client(
                "s3",
                config=config(
                    connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 3}
                ),
            )
            self._transfer = transfer_config()
        return self._client

    def store(self, manifest: BackupManifest) -> None:
        """Upload each dump, then the manifest; on failure delete every object of this backup."""
        backup_id = plain_id(manifest.directory.name)
        client = self.client()
        folder = self._folder(backup_id)
        if self._exists(folder + MANIFEST_NAME):
            raise OperationError(f"backup {backup_id} already exists in {self.name}")
        current = ""
        try:
            for path in (*(f.path for f in manifest.files), manifest.path):
                current = path.name
                client.upload_file(str(path), self.bucket, folder + path.name, Config=self._transfer)
        except _errors() as exc:
            reason = describe(exc)
            leftover = self._remove_folder(folder)
            raise OperationError(
                f"uploading {current} of backup {backup_id} to {self.name} failed: {reason}{leftover}"
            ) from None
        except BaseException:
            self._remove_folder(folder)
            raise

    def _exists(self, key: str) -> bool:
        """True when `key` is in the bucket; OperationError when S3 cannot be asked."""
        try:
            self.client().head_object(Bucket=self.bucket, Key=key)
        except _errors() as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise OperationError(f"cannot read {self.name}: {describe(exc)}") from None
        return True

    def _remove_folder(self, folder: str) -> str:
        """Delete every object under `folder` (manifest first); "" or a note on what could not be deleted."""
        try:
            self._delete_folder(folder)
        except OperationError as exc:
            return f" (and removing its uploaded objects failed: {exc})"
        except _errors() as exc:
            return f" (and removing its uploaded objects failed: {describe(exc)})"
        return ""

    def _delete_folder(self, folder: str) -> None:
        client = self.client()
        client.delete_object(Bucket=self.bucket, Key=folder + MANIFEST_NAME)
        keys = [obj["Key"] for obj in self._objects(folder)]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            answer = client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            failed = answer.get("Errors") or []
            if failed:
                first = failed[0]
                raise OperationError(
                    f"{len(failed)} object(s) of {self.name}/{folder} were not deleted: "
                    f"{first.get('Code', 'error')}: {first.get('Message', '')}"
                )

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [obj for page in pages for obj in page.get("Contents", [])]

    def list(self) -> TargetListing:
        """Complete backups (a readable `<prefix>/<id>/manifest.json`), newest first."""
        root = f"{self.prefix}/" if self.prefix else ""
        try:
            client = self.client()
            found: list[tuple[str, str]] = []
            for obj in self._objects(root):
                parts = obj["Key"][len(root) :].split("/")
                if len(parts) == 2 and parts[1] == MANIFEST_NAME and parts[0]:
                    found.append((parts[0], obj["Key"]))
            backups: list[StoredBackup] = []
            skipped = 0
            for backup_id, key in found:
                try:
                    body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read(MANIFEST_LIMIT)
                    backups.append(StoredBackup.of(backup_id, parse_manifest(body.decode(), Path(key))))
                except (ValueError, UnicodeDecodeError):  # json.JSONDecodeError is a ValueError
                    skipped += 1
                except _errors() as exc:
                    if _code(exc) not in ("NoSuchKey", "404"):  # else deleted since it was listed
                        raise
        except _errors() as exc:
            raise OperationError(f"cannot read {self.name}: {describe(exc)}") from None
        backups.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return TargetListing(tuple(backups), skipped)

    def delete(self, backup_id: str) -> None:
        """Delete the manifest first (the backup stops being complete), then its dumps."""
        try:
            self._delete_folder(self._folder(plain_id(backup_id)))
        except _errors() as exc:
            raise OperationError(
                f"deleting backup {backup_id} from {self.name} failed: {describe(exc)}"
            ) from None

    def manifest(self, backup_id: str) -> BackupManifest:
        """The manifest object of the backup (its files named by their keys); BackupNotFound without one."""
        key = self._folder(plain_id(backup_id)) + MANIFEST_NAME
        try:
            body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read(MANIFEST_LIMIT)
            return parse_manifest(body.decode(), Path(key))
        except (ValueError, UnicodeDecodeError) as exc:
            raise OperationError(
                f"the manifest of backup {backup_id} in {self.name} is malformed: {exc}"
            ) from None
        except _errors() as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise BackupNotFound(f"no backup {backup_id} in {self.name}") from None
            raise OperationError(f"cannot read backup {backup_id} in {self.name}: {describe(exc)}") from None

    def fetch(self, backup_id: str, into: Path) -> BackupManifest:
        """Download the backup's files and manifest into `into/<id>/`; on failure nothing stays there."""
        stored = self.manifest(backup_id)
        folder = self._folder(plain_id(backup_id))
        local = into / backup_id
        current = MANIFEST_NAME
        try:
            shutil.rmtree(local, ignore_errors=True)
            local.mkdir(parents=True)
            for file in stored.files:
                current = file.path.name
                self.client().download_file(
                    self.bucket, folder + current, str(local / current), Config=self._transfer
                )
            write_text_atomically(local / MANIFEST_NAME, text_of(stored))
        except _errors() as exc:
            shutil.rmtree(local, ignore_errors=True)
            raise OperationError(
                f"downloading {current} of backup {backup_id} from {self.name} failed: {describe(exc)}"
            ) from None
        except BaseException:
            shutil.rmtree(local, ignore_errors=True)
            raise
        return replace(
            stored,
            path=local / MANIFEST_NAME,
            files=tuple(replace(f, path=local / f.path.name) for f in stored.files),
        )

    def record_verification(self, backup_id: str, verification: Verification) -> None:
        """Upload the manifest again with `verification` as the last verify (one PUT: atomic in S3)."""
        current = self.manifest(backup_id)
        key = self._folder(plain_id(backup_id)) + MANIFEST_NAME
        body = text_of(replace(current, verification=verification)).encode()
        try:
            self.client().put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except _errors() as exc:
            raise OperationError(
                f"recording the verify of backup {backup_id} in {self.name} failed: {describe(exc)}"
            ) from None
