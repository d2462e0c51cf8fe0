"""A file that takes the daemon down every time it is decided is quarantined after a bounded number of restarts."""

from __future__ import annotations

import json
import os

import pytest
from daemon_kit import drop, event


class Killed(BaseException):
    """Stands for the process dying (SIGKILL, a hang ended by a restart) while it decides one file."""


def start_with_a_poison_file(make_daemon, poison: str):
    daemon = make_daemon()
    process = daemon.pipeline.process

    def dying(name, data, **kw):
        if name == poison:
            raise Killed(name)
        return process(name, data, **kw)

    process_batch = daemon.pipeline.process_batch

    def dying_batch(files):
        if any(name == poison for name, _, _ in files):
            raise Killed(poison)
        return process_batch(files)

    daemon.pipeline.process = dying  # type: ignore[method-assign]
    daemon.pipeline.process_batch = dying_batch  # type: ignore[method-assign]
    return daemon


def test_a_poison_file_goes_to_failed_after_three_attempts_and_the_others_are_decided(make_daemon) -> None:
    daemon = make_daemon()
    names = [f"17000000000000000{i:02d}-e.json" for i in range(3)]
    for i, name in enumerate(names):  # claimed, then the daemon died: all three wait in processing/
        drop(daemon.spool.processing, name, event(i, ts=f"2025-01-01T00:00:0{i}Z"))
    poison = names[1]
    for _ in range(3):  # each start takes the leftovers up again and dies on the same file: first in a group
        with pytest.raises(Killed):  # commit with the others, then alone
            start_with_a_poison_file(make_daemon, poison).run_once()
    assert sorted(os.listdir(daemon.spool.done)) == [names[0]]  # the file before it, once decided alone

    stats = start_with_a_poison_file(make_daemon, poison).run_once()  # the fourth start quarantines it
    assert stats.failed == 1 and stats.done == 1
    assert sorted(os.listdir(daemon.spool.done)) == [names[0], names[2]]
    reason = json.loads((daemon.spool.failed / f"{poison}.reason.json").read_text())
    assert reason["code"] == "poison" and "taken up 3 times" in reason["reason"]
    assert os.listdir(daemon.spool.processing) == []  # no attempts counter left behind
    rows = daemon.audit.conn.execute("SELECT file, outcome, code FROM intake WHERE code = 'poison'").fetchall()
    assert rows == [(poison, "failed", "poison")]


def test_a_file_recovered_once_is_decided_normally(make_daemon) -> None:
    daemon = make_daemon()
    drop(daemon.spool.processing, "1700000000000000000-a.json", event(1))
    stats = make_daemon().run_once()
    assert stats.done == 1 and stats.failed == 0
    assert os.listdir(daemon.spool.processing) == []
