"""Hot reload off the decision thread, with time and size bounds: a slow or huge rule set never stops decisions."""

from __future__ import annotations

import threading
from pathlib import Path

from daemon_kit import drop, event

from engine.run.daemon import reload as reload_module
from engine.run.daemon.reload import RulesWatcher


def blocked_validation(monkeypatch) -> threading.Event:
    """Validation that waits until the test lets it go (a rule set that takes long to check)."""
    release = threading.Event()
    real = reload_module._validate_and_compile

    def slow(root: Path):
        release.wait(60)
        return real(root)

    monkeypatch.setattr(reload_module, "_validate_and_compile", slow)
    return release


def hashes(daemon) -> set[str]:
    return {r[0] for r in daemon.audit.conn.execute("SELECT DISTINCT rules_hash FROM decisions")}


def test_events_are_decided_while_a_reload_validates_on_its_thread(make_daemon, rules_copy: Path,
                                                                   monkeypatch) -> None:
    release = blocked_validation(monkeypatch)
    daemon = make_daemon()
    old = daemon.pipeline.rules_hash
    daemon.watcher = RulesWatcher(rules_copy, interval=1e-6, background=True)
    path = rules_copy / "severity.yaml"
    path.write_text(path.read_text() + "\n# edited\n")
    for i in range(3):
        drop(daemon.spool.incoming, f"{i}.json", event(i))
    assert daemon.run_once().done == 3  # before, the loop waited for the validation
    assert hashes(daemon) == {old}
    release.set()
    daemon.watcher._job[0].result(60)  # type: ignore[index]  # the worker finished
    drop(daemon.spool.incoming, "9.json", event(9))
    assert daemon.run_once().done == 1
    assert daemon.pipeline.rules_hash != old and len(hashes(daemon)) == 2


def test_a_reload_over_its_time_bound_is_abandoned_and_the_old_rules_stay(make_daemon, rules_copy: Path,
                                                                          monkeypatch) -> None:
    release = blocked_validation(monkeypatch)
    daemon = make_daemon()
    old = daemon.pipeline.rules_hash
    daemon.watcher = RulesWatcher(rules_copy, interval=1e-6, background=True, timeout=0.0)
    path = rules_copy / "severity.yaml"
    path.write_text(path.read_text() + "\n# edited\n")
    daemon._maybe_reload()  # starts the job
    daemon._maybe_reload()  # over its bound (0 s): abandoned
    assert "reload abandoned" in daemon.health.reload_error
    assert daemon.metrics.registry.get_sample_value("escalation_rules_reloads_total", {"outcome": "rejected"}) == 1
    release.set()
    drop(daemon.spool.incoming, "1.json", event(1))
    assert daemon.run_once().done == 1 and daemon.pipeline.rules_hash == old


def test_a_rules_directory_over_the_size_bound_is_refused_without_reading_it(make_daemon, rules_copy: Path,
                                                                             monkeypatch) -> None:
    called: list[Path] = []
    monkeypatch.setattr(reload_module, "_validate_and_compile", lambda root: called.append(root))
    monkeypatch.setattr(reload_module, "MAX_BYTES", 64 * 1024)
    daemon = make_daemon()
    daemon.watcher = RulesWatcher(rules_copy, interval=1e-6, background=True)
    (rules_copy / "huge.yaml").write_text("# padding\n" * 10_000)
    daemon._maybe_reload()
    assert called == [] and "reload refused: rule files total" in daemon.health.reload_error
