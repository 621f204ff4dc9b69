"""Errors of the importers. A file that cannot be read at all raises; a bad row or value in a
readable file is reported (:class:`~importers.model.Rejected`) and skipped, never raised."""

from __future__ import annotations


class ImporterError(Exception):
    """Root of the importers' errors."""


class ImportFileError(ImporterError, ValueError):
    """A file cannot be imported at all: missing, unreadable, or not in the expected format.

    ``source`` is the file, ``line`` the line where it went wrong (0: the file as a whole),
    ``what_to_do`` the remedy.
    """

    def __init__(self, source: str, reason: str, what_to_do: str = "", line: int = 0) -> None:
        self.source = source
        self.reason = reason
        self.what_to_do = what_to_do
        self.line = line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}" + (f"; {what_to_do}" if what_to_do else ""))


class MappingError(ImporterError, ValueError):
    """A column mapping (TOML) is invalid: the file, the key and what is wrong."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: [{key}] {reason}")
