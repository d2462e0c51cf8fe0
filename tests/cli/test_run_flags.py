"""``rules run``'s delivery and triage flags reach the DaemonConfig; a bad value is one usage line, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.run.daemon import loop

REPO = Path(__file__).resolve().parents[2]


def _configs(monkeypatch: pytest.MonkeyPatch) -> list[loop.DaemonConfig]:
    """The config of every Daemon built (the real one, which then runs)."""
    seen: list[loop.DaemonConfig] = []
    init = loop.Daemon.__init__

    def spy(self: loop.Daemon, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(self.config)

    monkeypatch.setattr(loop.Daemon, "__init__", spy)
    return seen


def test_the_flags_reach_the_daemon_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _configs(monkeypatch)
    result = CliRunner().invoke(main, [
        "run", "--once", "--db", str(tmp_path / "audit.db"), "--spool", str(tmp_path / "spool"),
        "--send-per-adapter", "8", "--send-per-key", "3", "--send-limit", "pagerduty=2", "--send-limit", "slack=5",
        "--circuit-failures", "7", "--circuit-cooldown", "4", "--circuit-max-cooldown", "40", "--vendor-pause", "0.5",
        "--rate-jitter", "0", "--stop-grace", "2.5", "--serial", "--no-triage", "--triage-every", "0",
        "--triage-budget", "0.05"])
    assert result.exit_code == 0, result.output
    [config] = seen
    limits = config.limits
    assert (limits.per_adapter, limits.per_key, dict(limits.adapters)) == (8, 3, {"pagerduty": 2, "slack": 5})
    assert (limits.breaker_failures, limits.breaker_cooldown, limits.breaker_max_cooldown) == (7, 4.0, 40.0)
    assert (limits.vendor_pause, limits.rate_jitter) == (0.5, 0.0)
    assert (config.stop_grace, config.serial, config.triage, config.triage_every, config.triage_budget) == (
        2.5, True, False, 0.0, 0.05)


def test_the_defaults_are_the_daemon_config_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _configs(monkeypatch)
    result = CliRunner().invoke(main, ["run", "--once", "--db", str(tmp_path / "a.db"), "--spool", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    default = loop.DaemonConfig()
    assert seen[0].limits == default.limits
    assert [getattr(seen[0], f) for f in ("stop_grace", "serial", "triage", "triage_every", "triage_budget")] == [
        getattr(default, f) for f in ("stop_grace", "serial", "triage", "triage_every", "triage_budget")]


@pytest.mark.parametrize(("args", "message"), [
    (["--send-limit", "pagerduty"], "expected ADAPTER=N"),
    (["--send-limit", "pagerduty=0"], "expected ADAPTER=N"),
    (["--send-per-key", "0"], "--send-per-key"),
    (["--stop-grace", "-1"], "--stop-grace"),
    (["--circuit-cooldown", "60", "--circuit-max-cooldown", "30"], "shorter than --circuit-cooldown"),
    (["--triage-budget", "0"], "--triage-budget"),
])
def test_a_bad_value_is_a_usage_error_without_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--once", "--db", str(tmp_path / "a.db"),
                           "--spool", str(tmp_path / "spool"), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "a.db").exists(), "a usage error starts nothing"
