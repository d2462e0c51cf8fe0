"""The daemon's intake half: claim a batch of files, read and parse each, order them by event time, and
decide them in groups of one transaction each (group commit); then move each file to done/ or failed/.
An engine failure rolls a group back and its files are decided one by one, to isolate the bad one."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import stat
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, NoReturn

from engine.intake import IntakeError
from engine.model.errors import AuditError
from engine.run.daemon.files import File as _File
from engine.run.daemon.files import NotAFile as _NotAFile
from engine.run.daemon.files import read as _read
from engine.run.daemon.metrics import Metrics
from engine.run.daemon.outbox import Stats
from engine.run.daemon.spool import Spool
from engine.run.daemon.triage import Triage
from engine.run.pipeline import Pipeline

logger = logging.getLogger("escalation_handlers.daemon")


class Batches:
    """Mixed into :class:`~engine.run.daemon.loop.Daemon`."""

    pipeline: Pipeline
    spool: Spool
    metrics: Metrics
    config: Any
    stop: threading.Event
    _queue: deque[str]
    _children: dict[tuple[Any, tuple[str, ...]], Any]
    _recovering: bool
    triage: Triage | None
    _scan_full: bool
    _promoted_last: bool  # the last batch was a promoted one (the next one is plain if files wait there)

    if TYPE_CHECKING:  # provided by DbHealth
        def _db_down(self, exc: BaseException) -> NoReturn: ...

    def _claim(self) -> list[_File]:
        """Up to ``batch`` files from the head of the queue, claimed; an empty queue is refilled
        by one scan of ``incoming/`` first (the only listing while a backlog drains). During a backlog
        the triage (:mod:`engine.run.daemon.triage`) runs first, and a batch of promoted files (urgent
        ones and their services' earlier files) alternates with the plain batches while both wait."""
        if not self._queue:
            self._queue.extend(self.spool.scan(self.config.scan))
            self._scan_full = len(self._queue) >= self.config.scan  # more may wait than the queue holds
        triage = self.triage
        if triage is not None:
            if len(self._queue) > self.config.batch or (self._scan_full and self._queue):  # a backlog
                triage.turn()
            elif not triage.waiting:
                triage.reset()
            if triage.waiting and not (self._promoted_last and self._queue):
                self._promoted_last = True
                promoted = [f for f in map(self._claim_one, triage.take(self.config.batch)) if f is not None]
                if promoted:
                    self.metrics.promoted.inc(len(promoted))
                    return promoted
            self._promoted_last = False
        files: list[_File] = []
        total = 0
        while self._queue and len(files) < self.config.batch and total < self.config.batch_bytes:
            f = self._claim_one(self._queue.popleft())
            if f is not None:
                files.append(f)
                total += f.size if stat.S_ISREG(f.mode) else 0
        return files

    def _claim_one(self, name: str) -> _File | None:
        """``incoming/<name>`` claimed into ``processing/``; None when it is gone (taken back, or promoted)."""
        claimed = self.spool.claim(name)
        if claimed is None:
            return None
        path, st = claimed
        return _File(path, os.path.basename(path), st.st_ctime, st.st_mode, size=st.st_size)

    def _leftovers(self) -> list[_File]:
        files = []
        for name in self.spool.scan(self.config.batch, self.spool.processing):
            path = os.path.join(self.spool.processing, name)
            with contextlib.suppress(FileNotFoundError):
                files.append(_File(path, name, None, os.lstat(path).st_mode))
        return files

    def _batch(self, files: list[_File], stats: Stats, recovering: bool = False) -> None:
        if recovering:
            self._recover(files, stats)
            return
        ready = [f for f in files if self._prepare(f, stats)]
        ready.sort(key=lambda f: (f.key, f.name))  # timestamp order within the batch
        size = max(1, self.config.group)
        for start in range(0, len(ready), size):
            if self.stop.is_set():
                return  # still claimed: recovered (decided) on the next start
            self._decide_group(ready[start:start + size], stats, recovering)

    def _recover(self, files: list[_File], stats: Stats) -> None:
        """Files a crash left in ``processing/``, each decision attempt counted on disk before it. A file
        taken up for the first time is decided with its neighbours (group commit, counted first); one
        taken up before (the daemon died while it was being decided) is decided alone, counted just before,
        and after ``poison_attempts`` such attempts goes to ``failed/`` (code ``poison``) instead of taking
        every restart down with it — the files after it are not charged. (Reading and parsing are bounded
        by the size limit and the parser's depth limits, so they are not counted.)"""
        ready = [f for f in files if self._prepare(f, stats)]
        ready.sort(key=lambda f: (f.key, f.name))
        size = max(1, self.config.group)
        fresh: list[_File] = []
        for f in ready:
            if self.stop.is_set():
                return
            if self.spool.attempts(f.name) == 0:
                fresh.append(f)
                if len(fresh) >= size:
                    self._recover_group(fresh, stats)
                    fresh = []
                continue
            self._recover_group(fresh, stats)
            fresh = []
            attempt = self.spool.count_attempt(f.name)
            if attempt > self.config.poison_attempts:
                self._reject(f, stats, "poison", f"{f.name} was taken up {attempt - 1} times and the daemon "
                             "never finished it (crashed or was killed meanwhile); quarantined")
            else:
                self._decide(f, stats, True)
        self._recover_group(fresh, stats)

    def _recover_group(self, group: list[_File], stats: Stats) -> None:
        if group and not self.stop.is_set():
            for f in group:
                self.spool.count_attempt(f.name)
            self._decide_group(group, stats, True)

    def _decide_group(self, group: list[_File], stats: Stats, recovering: bool) -> None:
        """Group commit: the files' rows in one transaction, then each file moved. An engine
        failure rolls the group back; its files are then decided one by one to isolate the bad one."""
        if len(group) == 1:
            self._decide(group[0], stats, recovering)
            return
        started = time.perf_counter()
        try:
            results = self.pipeline.process_batch([(f.name, f.data, f.items) for f in group])
        except AuditError as exc:
            self._db_down(exc)
        except Exception:
            for f in group:
                self._decide(f, stats, recovering)
            return
        committed, each = time.time(), (time.perf_counter() - started) / len(group)
        for f, result in zip(group, results, strict=True):
            self._finish(f, result, stats, recovering, each, committed)

    def _prepare(self, f: _File, stats: Stats) -> bool:
        """Check, read and parse one claimed file; a bad one goes to ``failed/`` right away."""
        limit = self.pipeline.max_body_bytes  # the whole file; each event in it has max_event_bytes
        try:
            if not stat.S_ISREG(f.mode):
                raise _NotAFile(f.mode)
            f.data = _read(f.path, limit)
            f.items = self.pipeline.parse(f.data)
        except _NotAFile as exc:
            kind = {stat.S_IFLNK: "a symlink", stat.S_IFDIR: "a directory"}.get(stat.S_IFMT(exc.mode), "special")
            self._reject(f, stats, "not-a-file", f"{f.name} is {kind}; only regular files are read")
            return False
        except IntakeError as exc:
            self._reject(f, stats, exc.code, exc.reason)
            return False
        except OSError as exc:
            self._reject(f, stats, "unreadable", f"cannot read {f.name}: {exc.strerror}")
            return False
        stamps = [i.timestamp.timestamp() for i in f.items if i.timestamp is not None]
        f.key = min(stamps, default=math.inf)
        return True

    def _decide(self, f: _File, stats: Stats, recovering: bool) -> None:
        started = time.perf_counter()
        try:
            result = self.pipeline.process(f.name, f.data, items=f.items)
        except AuditError as exc:
            self._db_down(exc)
        except Exception as exc:  # an engine bug on this event: recorded, the loop goes on
            logger.exception("event failed in the engine", extra={"event": "engine-failure", "file": f.name})
            self._reject(f, stats, "engine-failure", f"{type(exc).__name__}: {exc}")
            return
        self._finish(f, result, stats, recovering, time.perf_counter() - started, time.time())

    def _finish(self, f: _File, result: Any, stats: Stats, recovering: bool, seconds: float,
                committed: float) -> None:
        self.metrics.decision_latency.observe(seconds)
        if f.arrived is not None:
            self.metrics.arrival_latency.observe(max(0.0, committed - f.arrived))
        stats.decided += len(result.decisions)
        if result.skewed:
            self.metrics.clock_skew.inc(result.skewed)
        for d in result.decisions:
            self._count(self.metrics.decisions, d.severity)
        self._quarantine(f, result)
        if result.duplicates:  # a redelivery, a routine repeat_interval re-send, or our own commit before a crash
            self.metrics.duplicates.inc(len(result.duplicates))
        if result.ok or result.code == "duplicate":  # nothing new in it: done, not failed (counted above)
            if result.code == "duplicate":
                logger.info("event file holds only events already decided", extra={
                    "event": "duplicate", "file": f.name, "events": len(result.duplicates)})
            self._move(f, stats, True)
            self._count(self.metrics.events, "duplicate" if result.code == "duplicate" else "decided")
            return
        self._move(f, stats, False, result.reason, result.code)
        self._count(self.metrics.events, "failed")
        self._count(self.metrics.failures, result.code)

    def _quarantine(self, f: _File, result: Any) -> None:
        """Items the body went on without: each into failed/ with its reason, logged and counted."""
        for q in result.quarantined:
            if q.raw:
                self.spool.quarantine(f.name, q.where, q.raw, q.code, q.reason)
            logger.warning("item left out of its body" if q.raw else "body notice", extra={
                "event": q.outcome, "file": f.name, "item": q.where, "code": q.code, "reason": q.reason})
            self._count(self.metrics.failures, q.code)

    def _reject(self, f: _File, stats: Stats, code: str, reason: str) -> None:
        try:
            self.pipeline.reject(f.name, code, reason)
        except AuditError as exc:
            self._db_down(exc)
        self._move(f, stats, False, reason, code)
        self._count(self.metrics.events, "failed")
        self._count(self.metrics.failures, code)

    def _move(self, f: _File, stats: Stats, ok: bool, reason: str = "", code: str = "") -> None:
        if not ok:
            logger.warning("event file failed: %s: %s (%s; moved to failed/ with its reason)", f.name, reason, code,
                           extra={"event": "failed", "file": f.name, "code": code, "reason": reason})
        self.spool.finish(f.path, ok, reason, code)
        if self._recovering:
            self.spool.forget_attempts(f.name)
        if ok:
            stats.done += 1
        else:
            stats.failed += 1

    def _count(self, counter: Any, *labels: str) -> None:
        """``counter.labels(*labels).inc()`` with the labelled child kept (labels() costs ~4× inc())."""
        child = self._children.get((counter, labels))
        if child is None:
            child = self._children[(counter, labels)] = counter.labels(*labels)
        child.inc()
