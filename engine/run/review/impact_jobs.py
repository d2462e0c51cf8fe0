"""Both replays of ``rules impact`` at once: the base rule set in a forked child, the head in this process.

The two replays share nothing but their inputs (the recorded items, the model verdicts, the compiled
rule sets): each has its own in-memory audit log, virtual clock and, from an audit log, its own
read-only connection to the recorded ``history.*`` (``history_factory`` is called in the process that
replays). On an idle two-core machine (a CI runner) the wall time about halves, at about the same CPU
time (each process parses every body: ``--jobs 1`` parses it once for both); the summaries are the same
as in one process (a test compares them). On a saturated machine it gains no wall time and costs CPU
(copy-on-write faults, the summaries pickled back): ``--jobs 1`` there. Figures: README "Impact replay
speed".
The child is forked so that it inherits the compiled rule sets and the items instead of
rebuilding them; where ``fork`` is not available (macOS/Windows spawn), or with ``jobs=1``, both
replays run in this process item by item, each body parsed once for both (``replay_pair``).
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from typing import Any

from engine.compiler.compile import CompiledPolicy
from engine.run.review.impact import Item, replay, replay_pair

Summaries = dict[str, dict[str, Any]]


def default_jobs() -> int:
    """2 where two CPUs are usable (a CI runner), else 1."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return 2 if usable >= 2 else 1


def replay_both(base: CompiledPolicy, head: CompiledPolicy, items: list[Item], *, model: Any,
                history_factory: Any = None, jobs: int = 1, store: str = "memory") -> tuple[Summaries, Summaries]:
    """``(replay(base), replay(head))``, concurrently when ``jobs >= 2`` and ``fork`` exists; ``store``: see
    :func:`engine.run.review.impact.replay`."""
    if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods():
        out = replay_pair(base, head, items, model=model, history_factory=history_factory, store=store)
        return out[0], out[1]
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            send.send(("ok", replay(base, items, model=model, history_factory=history_factory, store=store)))
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            send.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
        finally:
            send.close()

    proc = ctx.Process(target=child, name="rules-impact-base", daemon=True)
    proc.start()
    send.close()
    try:
        head_out = replay(head, items, model=model, history_factory=history_factory, store=store)
        try:
            status, payload = receive.recv()
        except EOFError:
            proc.join()
            raise RuntimeError(f"the base replay ended without a result (exit code {proc.exitcode})") from None
    finally:
        receive.close()
        if proc.is_alive():
            proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status != "ok":
        raise RuntimeError(f"the base replay failed: {payload}")
    return payload, head_out
