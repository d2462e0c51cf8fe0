"""The spool directory: ``incoming/`` → ``processing/`` → ``done/`` | ``failed/``, moved by rename.

Producer protocol: write the whole file under a temporary name — a name starting with ``.``
or ending in ``.tmp``/``.part``/``.swp`` (ignored by the daemon) in ``incoming/``, or any name
elsewhere on the same filesystem — then ``rename()`` it into ``incoming/``. Files are taken in
name order, so time-sortable names (``<unix-ns>-<uuid>.json``, as the HTTP intake writes)
keep arrival order. Only regular files are read; symlinks and directories go to ``failed/``.

Every move is one ``rename()`` (atomic on one filesystem). A name already taken in the
target directory gets a ``~N`` suffix instead of overwriting: nothing is lost. On Linux the
claim and the move to ``done/`` are one ``renameat2(RENAME_NOREPLACE)`` each (the kernel refuses
to replace, so no separate existence check and no check-then-rename race); elsewhere, or on a
filesystem without that flag, an ``lstat`` before a plain ``rename``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import heapq
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.store.audit import utcnow

TEMP_SUFFIXES = (".tmp", ".part", ".swp")
REASON_SUFFIX = ".reason.json"
NAME_MAX = 255  # bytes per path component (ext4, xfs, btrfs, tmpfs)
SUFFIX_ROOM = 8  # "~NNNNNNN": what a collision may append


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

    def scan(self, limit: int, directory: Path | None = None) -> list[str]:
        """The ``limit`` first names in ``incoming/`` (or ``directory``), sorted, in one ``scandir``
        pass: O(limit) memory however many files are waiting (100,000 names are never held at once)."""
        with os.scandir(directory or self.incoming) as it:
            return heapq.nsmallest(limit, (e.name for e in it if not is_temporary(e.name)))

    def depth(self) -> int:
        """Files waiting in ``incoming/`` (one ``scandir`` pass; counted, not listed)."""
        with os.scandir(self.incoming) as it:
            return sum(1 for e in it if not is_temporary(e.name))

    def claim(self, name: str) -> tuple[str, os.stat_result] | None:
        """Move ``incoming/<name>`` into ``processing/``: its new path, and its ``lstat`` taken just
        before (``st_ctime`` is the producer's rename into ``incoming/``). None if it is gone."""
        src = os.path.join(self.incoming, name)
        try:
            st = os.lstat(src)
            return _move(src, os.fspath(self.processing), name), st
        except FileNotFoundError:
            return None  # the producer took it back

    def finish(self, path: str | Path, ok: bool, reason: str = "", code: str = "") -> str:
        """Move a processed file to ``done/``, or to ``failed/`` after writing its reason file."""
        path = os.fspath(path)
        name = os.path.basename(path)
        if ok:
            return _move(path, os.fspath(self.done), name)
        # the reason file adds ".", ".reason.json" and ".tmp" to the name: a long name is shortened, or
        # writing it fails (ENAMETOOLONG) and the file stays in processing/ to crash every restart
        reserve = 1 + len(REASON_SUFFIX) + len(".tmp") + SUFFIX_ROOM
        target = _free_name(self.failed / fit_name(name, reserve))
        info = {"file": name, "code": code, "reason": " ".join(reason.split()), "at": utcnow()}
        tmp = self.failed / f".{target.name}{REASON_SUFFIX}.tmp"
        try:
            tmp.write_text(json.dumps(info) + "\n")
            os.rename(tmp, self.failed / f"{target.name}{REASON_SUFFIX}")
        except OSError:  # e.g. ENOSPC: no half-written reason file left behind; the caller retries the file
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        os.rename(path, target)
        return os.fspath(target)

    def quarantine(self, name: str, where: str, data: bytes, code: str, reason: str) -> str:
        """One item of a body that went on without it (engine.intake.quarantine): its JSON into ``failed/``
        as ``<name>@<pointer>`` beside its ``.reason.json`` (``item`` names the pointer). Never pruned."""
        item = where.strip("/").replace("/", "-") or "item"
        reserve = 1 + len(REASON_SUFFIX) + len(".tmp") + SUFFIX_ROOM
        target = _free_name(self.failed / fit_name(f"{name}@{item}", reserve))
        info = {"file": name, "item": where, "code": code, "reason": " ".join(reason.split()), "at": utcnow()}
        for path, content in ((self.failed / f"{target.name}{REASON_SUFFIX}", (json.dumps(info) + "\n").encode()),
                              (target, data)):
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                tmp.write_bytes(content)
                os.rename(tmp, path)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
        return os.fspath(target)

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
        name = fit_name(name, len("..tmp") + SUFFIX_ROOM)
        tmp = self.incoming / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        target = _free_name(self.incoming / name)
        os.rename(tmp, target)
        return target


def fit_name(name: str, reserve: int) -> str:
    """``name``, or, when ``reserve`` more bytes would not fit in one path component, its head plus a
    hash of the whole name (distinct names stay distinct)."""
    raw = os.fsencode(name)
    if len(raw) + reserve <= NAME_MAX:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    head = raw[: NAME_MAX - reserve - len(digest) - 1]
    return f"{os.fsdecode(head)}-{digest}"


def _free_name(path: Path) -> Path:
    """``path`` if unused, else ``path~1``, ``path~2`` …: a move never overwrites a file."""
    if not os.path.lexists(path):
        return path
    n = 1
    while os.path.lexists(f"{path}~{n}"):
        n += 1
    return Path(f"{path}~{n}")


def _move(src: str, directory: str, name: str) -> str:
    """Rename ``src`` to ``directory/name``, or ``name~1``, ``name~2`` … if taken; the path used."""
    target, n = os.path.join(directory, name), 0
    while True:
        try:
            rename_noreplace(src, target)
            return target
        except FileExistsError:
            n += 1
            target = os.path.join(directory, f"{fit_name(name, SUFFIX_ROOM)}~{n}")


def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28; without it, lstat + rename
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _renameat2()
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def rename_noreplace(src: str, dst: str) -> None:
    """``rename(src, dst)`` that raises ``FileExistsError`` rather than replace an existing ``dst``."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):  # EINVAL: this filesystem has no RENAME_NOREPLACE
            raise OSError(err, os.strerror(err), src, None, dst)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), src, None, dst)
    os.rename(src, dst)
