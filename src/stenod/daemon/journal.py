"""The journal of finals: an append-only JSONL file, one final's event body per line exactly as
published, written and fsync'd *before* the final is published, so a final anyone may have seen
is on disk. It survives crashes and restarts: the publisher seeds its snapshot from it.

Files: ``finals.jsonl`` (being written), rotated at ``max_bytes`` to ``finals.1.jsonl`` (newest)
... ``finals.N.jsonl`` (oldest, N = ``keep``). Directory 0700 and files 0600: transcripts are
private. A line torn by a crash mid-write (at most the last) is skipped when reading.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("stenod.journal")

NAME = "finals"


def _files(directory: Path, keep: int | None = None) -> list[Path]:
    """Journal files oldest first."""
    rotated = sorted((p for p in directory.glob(f"{NAME}.*.jsonl") if p.name.split(".")[1].isdigit()),
                     key=lambda p: int(p.name.split(".")[1]), reverse=True)
    if keep is not None:
        rotated = [p for p in rotated if int(p.name.split(".")[1]) <= keep]
    current = directory / f"{NAME}.jsonl"
    return rotated + ([current] if current.exists() else [])


def _lines(path: Path) -> Iterator[dict]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # rotated away meanwhile
        return
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except ValueError:
            log.warning("%s:%d: skipping a damaged line", path, n)
            continue
        if isinstance(body, dict):
            yield body


def read_journal(directory: Path) -> Iterator[dict]:
    """Every journaled final body, oldest first."""
    for path in _files(Path(directory)):
        yield from _lines(path)


class Journal:
    def __init__(self, directory: Path, max_bytes: int = 8 * 1024 * 1024, keep: int = 4):
        self.dir, self.max_bytes, self.keep = Path(directory), max_bytes, keep
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.dir / f"{NAME}.jsonl"
        self._fd = self._open()
        self._end_torn_line()

    def _end_torn_line(self) -> None:
        """A crash mid-write leaves a line without its newline: end it, so that the next final
        starts a line of its own (the torn one is then skipped as damaged)."""
        with open(self.path, "rb") as f:
            if f.seek(0, os.SEEK_END) and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
                log.warning("%s: the last line was torn (a crash while writing); it is skipped", self.path)
                os.write(self._fd, b"\n")

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def recent(self, n: int) -> list[dict]:
        """The last `n` finals, oldest first."""
        out: list[dict] = []
        for path in reversed(_files(self.dir, self.keep)):
            out[:0] = list(_lines(path))
            if len(out) >= n:
                break
        return out[-n:] if n else []

    def append(self, body: bytes) -> None:
        """Write one final's body as a line and fsync it; raises OSError (disk full, ...)."""
        line = body.rstrip(b"\n") + b"\n"
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)
        if os.fstat(self._fd).st_size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        os.close(self._fd)
        for path in _files(self.dir)[:-1]:  # oldest first, so nothing is overwritten
            n = int(path.name.split(".")[1])
            if n >= self.keep:
                path.unlink()
            else:
                path.rename(self.dir / f"{NAME}.{n + 1}.jsonl")
        if self.keep:
            self.path.rename(self.dir / f"{NAME}.1.jsonl")
        else:
            self.path.unlink()
        self._fd = self._open()
        dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)  # the renames are durable too
        finally:
            os.close(dfd)

    def close(self) -> None:
        os.close(self._fd)
