"""The spool directory: ``incoming/`` → ``processing/`` → ``done/`` | ``failed/``, moved by rename.

Producer protocol: write the whole file under a temporary name — a name starting with ``.``
or ending in ``.tmp``/``.part``/``.swp`` (ignored by the daemon) in ``incoming/``, or any name
elsewhere on the same filesystem — then ``rename()`` it into ``incoming/``. Files are taken in
name order, so time-sortable names (``<unix-ns>-<uuid>.json``, as the HTTP intake writes)
keep arrival order. Only regular files are read; symlinks and directories go to ``failed/``.

Every move is one ``rename()`` (atomic on one filesystem). A name already taken in the
target directory gets a ``~N`` suffix instead of overwriting: nothing is lost.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.audit import utcnow

TEMP_SUFFIXES = (".tmp", ".part", ".swp")
REASON_SUFFIX = ".reason.json"


def is_temporary(name: str) -> bool:
    return name.startswith(".") or name.endswith(TEMP_SUFFIXES) or name.endswith(REASON_SUFFIX)


@dataclass
class Spool:
    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.incoming, self.processing = self.root / "incoming", self.root / "processing"
        self.done, self.failed = self.root / "done", self.root / "failed"

    def ensure(self) -> None:
        for d in (self.incoming, self.processing, self.done, self.failed):
            d.mkdir(parents=True, exist_ok=True)

    def oldest(self, limit: int, directory: Path | None = None) -> list[os.DirEntry[str]]:
        """The ``limit`` first entries by name, in one ``scandir`` pass: O(limit) memory, however
        many files are waiting (a burst of 100,000 is never listed into one structure)."""
        with os.scandir(directory or self.incoming) as it:
            return heapq.nsmallest(limit, (e for e in it if not is_temporary(e.name)), key=lambda e: e.name)

    def depth(self) -> int:
        """Files waiting in ``incoming/`` (one ``scandir`` pass; counted, not listed)."""
        with os.scandir(self.incoming) as it:
            return sum(1 for e in it if not is_temporary(e.name))

    def claim(self, entry: os.DirEntry[str]) -> Path | None:
        target = _free_name(self.processing / entry.name)
        try:
            os.rename(entry.path, target)
        except FileNotFoundError:
            return None  # the producer took it back
        return target

    def finish(self, path: Path, ok: bool, reason: str = "", code: str = "") -> Path:
        """Move a processed file to ``done/``, or to ``failed/`` after writing its reason file."""
        target = _free_name((self.done if ok else self.failed) / path.name)
        if not ok:
            info = {"file": path.name, "code": code, "reason": " ".join(reason.split()), "at": utcnow()}
            tmp = self.failed / f".{target.name}{REASON_SUFFIX}.tmp"
            tmp.write_text(json.dumps(info) + "\n")
            os.rename(tmp, self.failed / f"{target.name}{REASON_SUFFIX}")
        os.rename(path, target)
        return target

    def prune_done(self, retention_days: float, now: float | None = None) -> int:
        """Delete files in ``done/`` moved there more than ``retention_days`` ago (by ctime,
        which the rename into ``done/`` sets). ``failed/`` is never pruned: an operator reads it."""
        cutoff = (now or time.time()) - retention_days * 86400
        removed = 0
        with os.scandir(self.done) as it:
            for entry in it:
                try:
                    if entry.stat(follow_symlinks=False).st_ctime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def write(self, data: bytes, name: str) -> Path:
        """Producer side, used by ``--enqueue`` and the HTTP intake: temp name, fsync, rename."""
        tmp = self.incoming / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        target = _free_name(self.incoming / name)
        os.rename(tmp, target)
        return target


def _free_name(path: Path) -> Path:
    """``path`` if unused, else ``path~1``, ``path~2`` …: a move never overwrites a file."""
    if not os.path.lexists(path):
        return path
    n = 1
    while os.path.lexists(f"{path}~{n}"):
        n += 1
    return Path(f"{path}~{n}")
