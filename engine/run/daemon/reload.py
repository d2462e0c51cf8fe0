"""Hot reload: notice a change to the rule files (polled hash, or SIGHUP), validate, compile.

:meth:`RulesWatcher.poll` returns a new :class:`~engine.compiler.compile.CompiledPolicy` when the rule
files changed and the new set is valid, else ``None``. An invalid set is logged with every
diagnostic and remembered (by hash), so it is reported once, not on every poll; the daemon
keeps deciding with the old set. The swap itself happens in the daemon, between files.

durable-rules has no way to unregister a ruleset: each reload builds a new ``Decider`` (a new
``Host``). Our ``_Host`` starts no background threads, so an old host is inert garbage; the
memory it keeps is bounded per reload (see ``tests/run/test_reload.py``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("escalation_handlers.reload")
RULE_SUFFIXES = (".yaml", ".yml")


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


class RulesWatcher:
    def __init__(self, root: Path, interval: float = 2.0) -> None:
        self.root = Path(root)
        self.interval = interval
        self.current = source_hash(self.root)
        self.rejected = ""
        self.requested = False  # set by SIGHUP: check now, and report even a known-bad set again
        self.last_error = ""
        self.just_rejected = False
        self._next = time.monotonic() + interval

    def request(self) -> None:
        self.requested = True

    def due(self) -> bool:
        return self.requested or (self.interval > 0 and time.monotonic() >= self._next)

    def poll(self) -> Any | None:
        """A newly compiled policy, or ``None`` (unchanged, or invalid: logged, old set kept)."""
        forced, self.requested = self.requested, False
        self.just_rejected = False
        self._next = time.monotonic() + self.interval
        digest = source_hash(self.root)
        if digest == self.current:
            self.rejected = self.last_error = ""  # back to the running set (e.g. a bad edit undone)
            return None
        if digest == self.rejected and not forced:
            return None
        from engine.compiler.compile import compile_policy
        from engine.compiler.validate import validate
        from engine.model import diagnostics as diag

        try:
            policy, problems = validate(self.root)
            compiled = compile_policy(policy) if policy is not None else None
        except Exception as exc:  # a validator bug must not take the daemon down
            policy, compiled, problems = None, None, []
            self.last_error = f"reload failed: {type(exc).__name__}: {exc}"
        else:
            errors = [d for d in problems if d.severity == "error"]
            self.last_error = diag.render(errors).replace(os.linesep, "; ") if compiled is None else ""
        if compiled is None:
            self.rejected, self.just_rejected = digest, True
            logger.error("rules reload rejected; the running rules stay in force",
                         extra={"event": "reload-rejected", "rules_dir": str(self.root), "errors": self.last_error})
            return None
        self.current, self.rejected = digest, ""
        logger.info("rules reloaded", extra={"event": "reloaded", "rules_hash": compiled.digest})
        return compiled
