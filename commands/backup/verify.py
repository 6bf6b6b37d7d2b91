"""Check a finished dump before it is called a backup: size, sha256 and a complete gzip stream.

One streaming pass per file: the bytes on disk are hashed and inflated (which checks gzip's CRC and
length trailer) without holding the dump in memory.
"""

from __future__ import annotations

import hashlib
import zlib

from commands.backup.manifest import BackupFile
from commands.contract import OperationError

CHUNK_SIZE = 256 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _inflate(inflater: zlib._Decompress, data: bytes) -> None:
    """Feed `data`, discarding the output CHUNK_SIZE at a time (a dump may inflate a hundredfold)."""
    while not inflater.eof:
        out = inflater.decompress(data, CHUNK_SIZE)
        data = inflater.unconsumed_tail
        if not data and not out:
            return


def verify_file(file: BackupFile) -> None:
    """Raise OperationError when `file` is not the size/sha256 recorded or not one whole gzip stream."""
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(_GZIP_WBITS)
    size = 0
    trailing = False
    broken: str | None = None  # why the gzip stream is invalid (the hashing goes on: it says more)
    try:
        with file.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                size += len(chunk)
                digest.update(chunk)
                if broken is None:
                    trailing = trailing or inflater.eof  # bytes after the end of the gzip stream
                    try:
                        _inflate(inflater, chunk)
                    except zlib.error as exc:
                        broken = str(exc)
    except OSError as exc:
        raise OperationError(
            f"cannot read the dump {file.path} to verify it: {exc.strerror or exc}"
        ) from None
    if size != file.size or digest.hexdigest() != file.sha256:
        raise OperationError(f"the dump {file.path} changed after it was written (size or sha256 differs)")
    if broken is not None:
        raise OperationError(f"the dump {file.path} is not valid gzip: {broken}")
    if not inflater.eof or inflater.unused_data or trailing:
        raise OperationError(f"the dump {file.path} is not one complete gzip stream")
