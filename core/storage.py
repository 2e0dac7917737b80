"""Originals and thumbnails on disk, content-addressed by SHA-256.

Paths come from the digest alone, so a client's file name never reaches the filesystem
and the same bytes are stored once. Writes go to a temporary file first and are renamed
into place, so a crash never leaves a half-written original behind.
"""

import os
import tempfile
from pathlib import Path


class FileStore:
    def __init__(self, root: Path):
        self.root = root

    def original_path(self, sha256: str) -> Path:
        return self.root / "originals" / sha256[:2] / sha256[2:4] / sha256

    def thumbnail_path(self, sha256: str) -> Path:
        return self.root / "thumbnails" / sha256[:2] / sha256[2:4] / f"{sha256}.jpg"

    def save_original(self, sha256: str, data: bytes) -> Path:
        return _write_atomically(self.original_path(sha256), data)

    def save_thumbnail(self, sha256: str, data: bytes) -> Path:
        return _write_atomically(self.thumbnail_path(sha256), data)

    def read_original(self, sha256: str) -> bytes:
        return self.original_path(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        for path in (self.original_path(sha256), self.thumbnail_path(sha256)):
            path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
