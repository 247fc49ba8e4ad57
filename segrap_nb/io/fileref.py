"""A reference to one file: on disk, or a member inside a .zip archive (read without extracting)."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from segrap_nb.errors import DataError


@dataclass(frozen=True)
class FileRef:
    """A file on disk (``member`` is None) or the member ``member`` of the zip file ``path``."""

    path: Path
    member: str | None = None

    @classmethod
    def of(cls, value: FileRef | str | os.PathLike) -> FileRef:
        """Coerce a path or an existing reference into a FileRef."""
        return value if isinstance(value, FileRef) else cls(Path(value))

    @property
    def name(self) -> str:
        """The file name (last path component), e.g. ``image.nii.gz``."""
        return (self.member or str(self.path)).rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    def open(self) -> IO[bytes]:
        """Open the raw (still compressed) bytes for reading; errors name the file."""
        if self.member is None:
            try:
                return open(self.path, "rb")
            except FileNotFoundError:
                raise DataError(self, "file not found") from None
        try:
            archive = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise DataError(self.path, "zip file not found") from None
        except zipfile.BadZipFile as exc:
            raise DataError(self.path, f"not a readable zip file ({exc})") from None
        try:
            stream = archive.open(self.member)
        except KeyError:
            archive.close()
            raise DataError(self, "member missing from the zip file") from None
        # Close the archive together with the member stream.
        original_close = stream.close

        def close() -> None:
            original_close()
            archive.close()

        stream.close = close  # type: ignore[method-assign]
        return stream

    def stat_key(self) -> tuple[str, int, int]:
        """Identity of the file's current content for caches: (name, size, mtime_ns)."""
        if self.member is None:
            st = self.path.stat()
            return (str(self.path.resolve()), st.st_size, st.st_mtime_ns)
        st = self.path.stat()
        with zipfile.ZipFile(self.path) as archive:
            info = archive.getinfo(self.member)
        return (f"{self.path.resolve()}!{self.member}", info.file_size, st.st_mtime_ns ^ info.CRC)
