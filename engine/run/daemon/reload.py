"""Hot reload: notice a change to the rule files (polled hash, or SIGHUP), validate, compile.

:meth:`RulesWatcher.poll` returns a new :class:`~engine.compiler.compile.CompiledPolicy` when the rule
files changed and the new set is valid, else ``None``. An invalid set is logged with every
diagnostic and remembered (by hash), so it is reported once, not on every poll; the daemon
keeps deciding with the old set. The swap itself happens in the daemon, between files.

With ``background=True`` (what ``rules run`` uses) the validation and compilation run on a worker
thread, never on the decision thread: ``poll`` starts the job and returns ``None`` at once, the loop
goes on deciding, and a later ``poll`` hands over the result. A job still running after ``timeout``
seconds is abandoned (logged, ``reload-timeout``; its thread ends on its own, bounded by validate's own
budgets) and the old set stays. Before any of that, a rules directory over ``MAX_FILES`` files or
``MAX_BYTES`` bytes in all is rejected from ``stat`` alone, without reading it.

durable-rules has no way to unregister a ruleset: each reload builds a new ``Decider`` (a new
``Host``). Our ``_Host`` starts no background threads, so an old host is inert garbage; the
memory it keeps is bounded per reload (see ``tests/run/test_reload.py``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

logger = logging.getLogger("escalation_handlers.reload")
RULE_SUFFIXES = (".yaml", ".yml")
MAX_FILES = 200
MAX_BYTES = 8 * 1_048_576  # the rule files in all (each one is also limited to 1 MiB by engine/load.py)
DEFAULT_TIMEOUT = 60.0


def size_problem(root: Path) -> str:
    """Why ``root`` is too big to load (from ``stat`` alone), else ''."""
    files = [p for p in Path(root).rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()]
    if len(files) > MAX_FILES:
        return f"{len(files)} rule files; at most {MAX_FILES}"
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return f"rule files total {total} bytes; at most {MAX_BYTES}" if total > MAX_BYTES else ""


def source_hash(root: Path) -> str:
    """sha256 over every rule file's relative name and bytes (cheap: a handful of small files)."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:  # removed while we read: the next poll sees the final state
            h.update(b"\0missing")
        h.update(b"\0")
    return h.hexdigest()


def _validate_and_compile(root: Path) -> tuple[Any, list[Any]]:
    from engine.compiler.compile import compile_policy
    from engine.compiler.validate import validate

    policy, problems = validate(root)
    return (compile_policy(policy) if policy is not None else None), problems


class RulesWatcher:
    def __init__(self, root: Path, interval: float = 2.0, *, background: bool = False,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.root = Path(root)
        self.interval = interval
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rules-reload") if background else None
        self._job: tuple[Future[tuple[Any, list[Any]]], str, float] | None = None  # future, digest, started
        self.current = source_hash(self.root)
        self.rejected = ""
        self.requested = False  # set by SIGHUP: check now, and report even a known-bad set again
        self.last_error = ""
        self.just_rejected = False
        self._next = time.monotonic() + interval

    def request(self) -> None:
        self.requested = True

    def due(self) -> bool:
        return self._job is not None or self.requested or (self.interval > 0 and time.monotonic() >= self._next)

    def poll(self) -> Any | None:
        """A newly compiled policy, or ``None`` (unchanged, invalid — logged, old set kept — or, in the
        background, not finished yet)."""
        self.just_rejected = False
        if self._job is not None:
            return self._collect()
        forced, self.requested = self.requested, False
        self._next = time.monotonic() + self.interval
        too_big = size_problem(self.root)
        digest = f"too-big:{too_big}" if too_big else source_hash(self.root)
        if digest == self.current:
            self.rejected = self.last_error = ""  # back to the running set (e.g. a bad edit undone)
            return None
        if digest == self.rejected and not forced:
            return None
        if too_big:
            self.last_error = f"reload refused: {too_big}"
            self._rejected(digest)
            return None
        if self._pool is not None:
            self._job = (self._pool.submit(_validate_and_compile, self.root), digest, time.monotonic())
            return None
        try:
            result = _validate_and_compile(self.root)
        except Exception as exc:  # a validator bug must not take the daemon down
            return self._finished(digest, None, exc)
        return self._finished(digest, result, None)

    def _collect(self) -> Any | None:
        assert self._job is not None
        future, digest, started = self._job
        if not future.done():
            if time.monotonic() - started < self.timeout:
                return None
            self._job = None  # abandoned: its thread finishes on its own; the old set stays
            self.last_error = f"reload abandoned: validating took longer than {self.timeout:g} s"
            logger.error("rules reload abandoned; the running rules stay in force",
                         extra={"event": "reload-timeout", "rules_dir": str(self.root), "errors": self.last_error})
            self.rejected, self.just_rejected = digest, True
            return None
        self._job = None
        exc = future.exception()
        return self._finished(digest, None if exc else future.result(), exc)

    def _finished(self, digest: str, result: tuple[Any, list[Any]] | None, exc: BaseException | None) -> Any | None:
        from engine.model import diagnostics as diag

        compiled = result[0] if result is not None else None
        if exc is not None:
            self.last_error = f"reload failed: {type(exc).__name__}: {exc}"
        elif compiled is None and result is not None:
            errors = [d for d in result[1] if d.severity == "error"]
            self.last_error = diag.render(errors).replace(os.linesep, "; ")
        else:
            self.last_error = ""
        if compiled is None:
            self._rejected(digest)
            return None
        self.current, self.rejected = digest, ""
        logger.info("rules reloaded", extra={"event": "reloaded", "rules_hash": compiled.digest})
        return compiled

    def _rejected(self, digest: str) -> None:
        self.rejected, self.just_rejected = digest, True
        logger.error("rules reload rejected; the running rules stay in force",
                     extra={"event": "reload-rejected", "rules_dir": str(self.root), "errors": self.last_error})
