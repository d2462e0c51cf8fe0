"""``rules audit export``: sealed segments to a directory and to S3 with object lock (moto)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from history_gen import Incident
from history_kit import rules
from moto import mock_aws

from engine.store import ledger_note
from engine.store.audit_export import check_segment, export
from engine.store.readonly import connect_ro


def _note(text: str) -> tuple[bytes, int]:
    cp = ledger_note.parse(text)
    return cp.root, cp.size


def test_directory_segments_check_offline(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "segments"
    res = rules("audit", "export", "--to", str(out), "--db", str(sample_db))
    assert res.returncode == 0, res.stderr
    jsonl = sorted(out.glob("*.jsonl"))
    assert len(jsonl) == 1 and jsonl[0].name.startswith("segment-1-")
    note = jsonl[0].with_suffix(".note").read_text()
    assert check_segment(jsonl[0].read_text(), *_note(note)) is None
    tampered = jsonl[0].read_text().replace('"CRITICAL"', '"NONE"', 1)
    assert check_segment(tampered, *_note(note)) is not None
    res = rules("audit", "export", "--to", str(out), "--db", str(sample_db))
    assert res.stdout.startswith("nothing new to export")


@mock_aws
def test_s3_object_lock(generated: tuple[Path, list[Incident]], tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    shutil.copy(generated[0], db)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    conn = connect_ro(db)
    names = export(conn, "s3://audit/escalation", retain_days=30, s3=s3)
    conn.close()
    assert [n.rsplit("/", 1)[1].rsplit(".", 1)[1] for n in names] == ["jsonl", "note"]
    keys = [n.split("/", 3)[3] for n in names]
    for key in keys:  # (moto 5.2's GetObjectRetention fails with a 500; HEAD carries the same fields)
        head = s3.head_object(Bucket="audit", Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=29)
    body = s3.get_object(Bucket="audit", Key=keys[0])["Body"].read().decode()
    note = s3.get_object(Bucket="audit", Key=keys[1])["Body"].read().decode()
    assert check_segment(body, *_note(note)) is None
    version = s3.head_object(Bucket="audit", Key=keys[0])["VersionId"]
    with pytest.raises(ClientError):
        s3.delete_object(Bucket="audit", Key=keys[0], VersionId=version)
