"""The reports as a user gets them: the real CLI, golden files, the HTML page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from insights_kit import DAY, random_history

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UNTIL = "2026-12-01T00:00:00+00:00"
START = datetime(2026, 12, 1, tzinfo=ZoneInfo("UTC")).timestamp() - 40 * DAY
ENV = {k: v for k, v in os.environ.items() if k not in ("ESCALATION_DB", "NO_COLOR", "COLUMNS")}


def rules(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**ENV, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8", **(env or {})})


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(random_history(tmp_path_factory.mktemp("r") / "audit.db", 300, START, seed=21, days=40).path)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs (UPDATE_GOLDEN=1 rewrites it after review)"


def test_terminal_heatmap_golden(db: str) -> None:
    res = rules("anomalies", "heatmap", "--db", db, "--until", UNTIL, "--window", "7d", env={"COLUMNS": "100"})
    assert res.returncode == 0, res.stderr
    assert "\x1b[" not in res.stdout  # not a terminal: no colour codes
    golden("heatmap.txt", res.stdout)


def test_markdown_summary_golden(db: str) -> None:
    res = rules("anomalies", "summary", "--db", db, "--until", UNTIL, "--window", "7d")
    assert res.returncode == 0, res.stderr
    golden("summary.md", res.stdout)
    for section in ("## Top services by risk score", "## Trends", "## Durations", "## Rates", "## Automation",
                    "## Service incident heatmap", "## Definitions"):
        assert section in res.stdout


def test_terminal_output_fits_the_width_and_falls_back_to_ascii(db: str) -> None:
    res = rules("metrics", "--db", db, "--until", UNTIL, env={"COLUMNS": "80"})
    assert res.returncode == 0 and max(len(line) for line in res.stdout.splitlines()) <= 80
    res = rules("anomalies", "heatmap", "--db", db, "--until", UNTIL, env={"PYTHONIOENCODING": "ascii"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.isascii() and "# CRITICAL  + MAJOR  - MODERATE" in res.stdout


def test_json_and_csv_carry_the_same_figures(db: str) -> None:
    doc = json.loads(rules("metrics", "--db", db, "--until", UNTIL, "--format", "json").stdout)
    rows = list(csv.reader(io.StringIO(rules("metrics", "--db", db, "--until", UNTIL, "--format", "csv").stdout)))
    mtta = next(x for x in doc["data"]["metrics"] if x["metric"] == "mtta" and x["by"] == "overall")
    (line,) = [r for r in rows if r[:3] == ["durations", "MTTA", "all"]]
    assert int(line[3]) == mtta["n"] and int(line[4]) == mtta["n_censored"] and line[11] == mtta["status"]
    assert doc["window"]["text"] == "2026-11-24 00:00 → 2026-12-01 00:00 (UTC)"


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    res = rules("metrics", "--db", str(tmp_path / "missing.db"))
    assert res.returncode == 3 and res.stderr.strip().splitlines() == [
        f"error: no audit log at {tmp_path / 'missing.db'} (pass --db or set ESCALATION_DB)"]
    assert not (tmp_path / "missing.db").exists()
    (tmp_path / "junk.db").write_text("not sqlite")
    res = rules("anomalies", "score", "--db", str(tmp_path / "junk.db"))
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "not an audit log" in res.stderr
    res = rules("metrics", "--db", str(tmp_path / "junk.db"), "--since", "yesterday")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "bad time 'yesterday': neither a duration (7d" in res.stderr
    res = rules("metrics", "--tz", "Mars/Olympus")
    assert res.returncode == 2 and "unknown time zone 'Mars/Olympus'" in res.stderr


def test_an_empty_log_is_not_called_fully_assessed(tmp_path: Path) -> None:
    from engine.store.audit import Audit

    Audit(tmp_path / "empty.db").close()
    out = rules("anomalies", "trends", "--db", str(tmp_path / "empty.db")).stdout
    assert "every service assessed" not in out
    assert "• no incident in the last 90 days: nothing to assess" in out


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is required (Debian package 'chromium'; .ci/run installs it)"
    return found


def test_html_summary_renders_offline_in_headless_chromium(db: str, tmp_path: Path) -> None:
    page = tmp_path / "summary.html"
    res = rules("anomalies", "summary", "--db", db, "--until", UNTIL, "--format", "html", "--out", str(page))
    assert res.returncode == 0, res.stderr
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?https?:""", text) and "<script" not in text  # nothing fetched
    proc = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert proc.returncode == 0 and "<h1>Incident intelligence summary</h1>" in dom
    for section in ("top_services", "trends", "durations", "rates", "automation", "heatmap", "daily_severity",
                    "scores", "definitions"):
        assert f'id="{section}"' in dom, section
    assert dom.count("<table>") >= 4
    charts = [m.group(0) for m in re.finditer(r'<section id="(?:daily_severity|scores)">.*?</section>', dom, re.S)]
    assert len(charts) == 2 and all("<svg" in c and "<path" in c for c in charts)  # matplotlib drew them
    heat = re.search(r'<section id="heatmap">.*?</section>', dom, re.S)
    assert heat is not None
    cells = re.findall(r'class="cell" data-severity="(\w*)" data-count="(\d+)"', heat.group(0))
    doc = json.loads(rules("anomalies", "heatmap", "--db", db, "--until", UNTIL, "--format", "json",
                           "--top", "100").stdout)
    assert [(s or "", str(n)) for row in doc["blocks"][0]["cells"] for s, n in row] == cells


def test_heatmap_html_and_bucket_errors(db: str, tmp_path: Path) -> None:
    out = tmp_path / "heat.html"
    res = rules("anomalies", "heatmap", "--db", db, "--until", UNTIL, "--bucket", "6h", "--window", "2d",
                "--format", "html", "--out", str(out))
    assert res.returncode == 0 and out.read_text().count('class="cell"') == 8 * len(
        json.loads(rules("anomalies", "heatmap", "--db", db, "--until", UNTIL, "--bucket", "6h", "--window", "2d",
                         "--format", "json").stdout)["data"]["services"])
    res = rules("anomalies", "heatmap", "--db", db, "--bucket", "soon")
    assert res.returncode == 2 and "bad duration 'soon'" in res.stderr
