"""``rules run``: the daemon fed by a spool directory.

Spool protocol (producers): write the file elsewhere in the same filesystem — or in
``incoming/`` under a name starting with ``.`` or ending in ``.tmp``/``.part`` — then
``rename()`` it into ``incoming/``. The daemon ignores temporary names, claims a file by
renaming it into ``processing/``, decides it and commits every audit row and action request
in one sqlite transaction, then moves it to ``done/`` — or to ``failed/`` next to
``<name>.reason.json``. After the move, it executes the outbox (actions without a result).

After a crash, files left in ``processing/`` are processed again first: an event whose
``event_id`` is already in the audit log is not decided twice, and actions are executed from
the outbox, which knows what already has a result.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.audit import utcnow
from engine.execute import ActionReport, Executor
from engine.pipeline import Pipeline

logger = logging.getLogger("escalation_handlers.daemon")
TEMP_SUFFIXES = (".tmp", ".part", ".swp")


@dataclass
class Spool:
    root: Path

    def __post_init__(self) -> None:
        self.incoming, self.processing = self.root / "incoming", self.root / "processing"
        self.done, self.failed = self.root / "done", self.root / "failed"

    def ensure(self) -> None:
        for d in (self.incoming, self.processing, self.done, self.failed):
            d.mkdir(parents=True, exist_ok=True)

    def waiting(self, directory: Path | None = None) -> Iterator[Path]:
        """Entries to process, oldest name first; temporary names are left alone."""
        directory = directory or self.incoming
        names = sorted(e.name for e in os.scandir(directory))
        for name in names:
            if name.startswith(".") or name.endswith(TEMP_SUFFIXES) or name.endswith(".reason.json"):
                continue
            yield directory / name

    def claim(self, path: Path) -> Path | None:
        target = self.processing / path.name
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None  # another claimer won, or the producer took it back
        return target

    def finish(self, path: Path, ok: bool, reason: str = "", code: str = "") -> Path:
        target = (self.done if ok else self.failed) / path.name
        if not ok:
            info = {"file": path.name, "code": code, "reason": reason, "at": utcnow()}
            tmp = self.failed / f".{path.name}.reason.json.tmp"
            tmp.write_text(json.dumps(info, indent=2) + "\n")
            os.rename(tmp, self.failed / f"{path.name}.reason.json")
        os.rename(path, target)
        return target


@dataclass
class Stats:
    done: int = 0
    failed: int = 0
    decided: int = 0
    actions: list[ActionReport] = field(default_factory=list)


class Daemon:
    def __init__(self, pipeline: Pipeline, executor: Executor, spool: Spool) -> None:
        self.pipeline = pipeline
        self.executor = executor
        self.spool = spool
        self.stop = threading.Event()
        spool.ensure()

    def handle(self, path: Path, stats: Stats, recovering: bool = False) -> None:
        if path.is_symlink() or not path.is_file():
            kind = "a symlink" if path.is_symlink() else "not a regular file"
            self._fail(path, stats, f"{path.name} is {kind}; only regular files are read", "not-a-file")
            return
        size, limit = path.stat().st_size, self.pipeline.max_event_bytes
        if size > limit:  # never read an oversized file into memory
            reason = f"file is {size} bytes; the limit is {limit} (--max-event-bytes)"
            self.pipeline.reject(path.name, "too-large", reason)
            self._fail(path, stats, reason, "too-large")
            return
        result = self.pipeline.process(path.name, path.read_bytes())
        stats.decided += len(result.decisions)
        if result.ok or (recovering and result.code == "duplicate"):
            self.spool.finish(path, True)
            stats.done += 1
        else:
            self._fail(path, stats, result.reason, result.code)

    def _fail(self, path: Path, stats: Stats, reason: str, code: str) -> None:
        logger.warning(json.dumps({"msg": "event file failed", "file": path.name, "code": code, "reason": reason}))
        self.spool.finish(path, False, reason, code)
        stats.failed += 1

    def run_once(self) -> Stats:
        """Recover what a previous run claimed, drain ``incoming/``, execute the outbox."""
        stats = Stats()
        for path in list(self.spool.waiting(self.spool.processing)):
            self.handle(path, stats, recovering=True)
        for path in self.spool.waiting():
            if self.stop.is_set():
                break
            claimed = self.spool.claim(path)
            if claimed is not None:
                self.handle(claimed, stats)
        stats.actions = self.executor.run_pending()
        return stats

    def run_forever(self, interval: float = 1.0) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        while not self.stop.is_set():
            stats = self.run_once()
            if stats.done or stats.failed or stats.actions:
                logger.info(json.dumps({"msg": "cycle", "done": stats.done, "failed": stats.failed,
                                        "decided": stats.decided, "actions": len(stats.actions)}))
            self.stop.wait(interval)
