"""validate_dataset: the upstream fixture is clean; each kind of corruption yields the right finding."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lerobot_core.datasets.validate import validate_dataset

DATA = "data/chunk-000/file-000.parquet"
FRONT = "videos/observation.images.front/chunk-000/file-000.mp4"
WRIST = "videos/observation.images.wrist/chunk-000/file-000.mp4"


def _rewrite_data(root: Path, fn) -> None:
    table = pq.read_table(root / DATA)
    pq.write_table(fn(table), root / DATA)


def _edit_json(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj, indent=4))


def _findings(root: Path, check: str) -> list:
    return [f for f in validate_dataset(root).findings if f.check == check]


def test_upstream_fixture_is_clean(fixture_dataset: Path):
    report = validate_dataset(fixture_dataset)
    assert report.ok, report.format()
    assert report.checked == {"episodes": 2, "tasks": 2, "frames": 80, "video files": 2, "stats features": 9}
    assert report.format().startswith("OK:")


def test_deleted_rows_are_reported_per_episode(dataset_copy: Path):
    _rewrite_data(dataset_copy, lambda t: t.filter(pc.invert(pc.is_in(t["index"], pa.array(range(10, 15))))))
    report = validate_dataset(dataset_copy)
    rows = [f for f in report.findings if f.check == "data.rows"]
    assert len(rows) == 1 and (rows[0].episode, rows[0].expected, rows[0].actual) == (0, 40, 35)
    assert rows[0].file == DATA
    assert {"data.frame_index", "data.index", "data.timestamps"} <= report.checks()
    assert "episode 0, data/chunk-000/file-000.parquet: row count differs" in report.format()


def test_shifted_timestamps_are_reported(dataset_copy: Path):
    def shift(t: pa.Table) -> pa.Table:
        ts = t["timestamp"].to_numpy().copy()
        ts[60:] += 0.01  # episode 1 from its frame 20 on
        return t.set_column(t.schema.get_field_index("timestamp"), "timestamp", pa.array(ts, pa.float32()))

    _rewrite_data(dataset_copy, shift)
    (finding,) = _findings(dataset_copy, "data.timestamps")
    assert finding.episode == 1 and finding.expected == round(20 / 30, 6)
    assert abs(finding.actual - (20 / 30 + 0.01)) < 1e-5
    assert "20 frames off" in finding.message


def test_truncated_video_is_reported(dataset_copy: Path):
    path = dataset_copy / FRONT
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    findings = _findings(dataset_copy, "videos")
    assert findings and all(f.file == FRONT for f in findings)
    assert any("truncated" in f.message and f.expected == 80 for f in findings)
    assert any(f.episode == 1 and f.expected == 40 and f.actual < 40 for f in findings)


def test_video_shorter_than_episode_metadata(dataset_copy: Path):
    def longer(ep: pa.Table) -> pa.Table:
        col = "videos/observation.images.wrist/to_timestamp"
        values = ep[col].to_pylist()
        values[1] += 1 / 30
        return ep.set_column(ep.schema.get_field_index(col), col, pa.array(values, pa.float64()))

    path = dataset_copy / "meta/episodes/chunk-000/file-000.parquet"
    pq.write_table(longer(pq.read_table(path)), path)
    findings = _findings(dataset_copy, "videos")
    assert {(f.episode, f.file) for f in findings} == {(1, WRIST)}
    assert any("duration" in f.message and f.expected == round(40 / 30, 6) for f in findings)


def test_missing_or_inconsistent_stats(dataset_copy: Path):
    stats = dataset_copy / "meta/stats.json"
    _edit_json(stats, lambda s: (s.pop("action"), s["observation.state"].update(count=[79])))
    messages = [str(f) for f in _findings(dataset_copy, "stats")]
    assert any("no stats for feature 'action'" in m for m in messages)
    assert any("observation.state/count" in m and "expected [80], got [79.0]" in m for m in messages)
    stats.unlink()
    (finding,) = _findings(dataset_copy, "stats")
    assert finding.file == "meta/stats.json" and "missing" in finding.message


def test_info_totals_and_missing_files(dataset_copy: Path):
    _edit_json(dataset_copy / "meta/info.json", lambda i: i.update(total_frames=81, total_episodes=3))
    (dataset_copy / WRIST).unlink()
    report = validate_dataset(dataset_copy)
    info = {(f.message.split()[0], f.expected, f.actual) for f in report.findings if f.check == "info"}
    assert info == {("total_episodes", 2, 3), ("total_frames", 80, 81)}
    missing = [f for f in report.findings if f.check == "files"]
    assert {(f.episode, f.file) for f in missing} == {(0, WRIST), (1, WRIST)}


def test_not_a_dataset(tmp_path: Path):
    report = validate_dataset(tmp_path)
    assert not report.ok and report.findings[0].file == "meta/info.json"
    assert "FAILED" in report.format()


def test_episode_task_missing_from_task_table(dataset_copy: Path):
    path = dataset_copy / "meta/tasks.parquet"
    table = pq.read_table(path)
    pq.write_table(table.set_column(1, table.schema.field(1), pa.array(["pick the red block", "renamed"], pa.large_string())), path)
    (finding,) = _findings(dataset_copy, "tasks")
    assert finding.episode == 1 and "'place the block in the bin'" in finding.message
