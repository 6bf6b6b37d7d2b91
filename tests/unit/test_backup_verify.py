"""`verify_file`: a dump is a backup only if it is the bytes recorded and one whole gzip stream."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from commands.backup.manifest import BackupFile
from commands.backup.verify import CHUNK_SIZE, verify_file
from commands.contract import OperationError


def recorded(path: Path, data: bytes) -> BackupFile:
    path.write_bytes(data)
    return BackupFile("litemaas", path, len(data), hashlib.sha256(data).hexdigest(), "16.4")


def test_a_whole_dump_passes_even_when_it_inflates_a_lot(tmp_path: Path) -> None:
    data = gzip.compress(b"INSERT INTO t VALUES (1);\n" * 400_000 + os.urandom(1000))  # ~10 MB inflated
    verify_file(recorded(tmp_path / "litemaas.sql.gz", data))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: d[: len(d) // 2], "is not one complete gzip stream"),
        (lambda d: d[:-8] + bytes(8), "is not valid gzip"),  # CRC and length trailer zeroed
        (lambda d: d + gzip.compress(b"more"), "is not one complete gzip stream"),
        (lambda d: b"not gzip at all", "is not valid gzip"),
    ],
)
def test_a_damaged_dump_is_refused(tmp_path: Path, damage: Callable[[bytes], bytes], expected: str) -> None:
    data = gzip.compress(b"CREATE TABLE users (id int);\n" * 1000)
    file = recorded(tmp_path / "litemaas.sql.gz", damage(data))

    with pytest.raises(OperationError, match=expected):
        verify_file(file)


def test_a_dump_changed_after_it_was_recorded_is_refused(tmp_path: Path) -> None:
    file = recorded(tmp_path / "litemaas.sql.gz", gzip.compress(b"SELECT 1;\n"))
    file.path.write_bytes(gzip.compress(b"SELECT 2;\n"))

    with pytest.raises(OperationError, match="changed after it was written"):
        verify_file(file)


def test_bytes_after_a_stream_that_ends_exactly_at_a_read_boundary_are_refused(tmp_path: Path) -> None:
    payload = os.urandom(CHUNK_SIZE)
    while len(whole := gzip.compress(payload, compresslevel=0, mtime=0)) != CHUNK_SIZE:
        payload = payload[: len(payload) - (len(whole) - CHUNK_SIZE)]  # stored blocks: size tracks payload
    verify_file(recorded(tmp_path / "exact.sql.gz", whole))

    with pytest.raises(OperationError, match="is not one complete gzip stream"):
        verify_file(recorded(tmp_path / "trailing.sql.gz", whole + b"\0"))


def test_a_damaged_dump_is_reported_as_changed_when_its_checksum_differs(tmp_path: Path) -> None:
    data = gzip.compress(b"CREATE TABLE users (id int);\n" * 1000)
    file = recorded(tmp_path / "litemaas.sql.gz", data)
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF  # a bit rot: the gzip stream breaks too, the checksum says more
    file.path.write_bytes(bytes(damaged))

    with pytest.raises(OperationError, match="changed after it was written"):
        verify_file(file)
