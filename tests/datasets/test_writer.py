"""Recording: on-disk layout equal to upstream's, round trip, validation, rollover, resume, encoders."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from helpers_record import H, W, features, frame, image, record

from lerobot_core.datasets import LeRobotDataset, LeRobotDatasetMetadata, VideoEncoderConfig
from lerobot_core.datasets.video import EpisodeVideoWriter, count_video_frames
from lerobot_core.datasets.writer import STAGING_DIR


def test_layout_matches_upstream_fixture(tmp_path, upstream_fixtures):
    """Same info.json keys, parquet column names/types and episode columns as the upstream fixture."""
    fixture = upstream_fixtures / "dataset_v30"
    ref_info = json.loads((fixture / "meta/info.json").read_text())
    feats = {k: dict(v) for k, v in ref_info["features"].items() if k not in
             ("timestamp", "frame_index", "episode_index", "index", "task_index")}
    for v in feats.values():
        v.pop("info", None)
    ds = LeRobotDataset.create("t/layout", 30, feats, root=tmp_path / "ds", robot_type="so101_follower")
    for ep in range(2):
        for i in range(5):
            ds.add_frame({
                "observation.state": np.full(6, i, np.float32), "action": np.full(6, -i, np.float32),
                "observation.images.front": np.full((96, 128, 3), 50 + i, np.uint8),
                "observation.images.wrist": np.full((96, 128, 3), 90, np.uint8), "task": f"t{ep}",
            })
        ds.save_episode()
    ds.finalize()
    root = tmp_path / "ds"
    info = json.loads((root / "meta/info.json").read_text())
    assert set(info) == set(ref_info)
    assert list(info["features"]) == list(ref_info["features"])
    for key in ("observation.images.front", "observation.images.wrist"):
        ours, theirs = info["features"][key]["info"], ref_info["features"][key]["info"]
        assert {k: ours[k] for k in theirs} == theirs
        assert {k: ours[k] for k in ("video.g", "video.crf", "video.preset", "video.fast_decode",
                                      "video.video_backend", "video.extra_options")} == {
            "video.g": 2, "video.crf": 30, "video.preset": 12, "video.fast_decode": 0,
            "video.video_backend": "pyav", "video.extra_options": {}}
    for rel in ("data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/tasks.parquet"):
        ours, theirs = pq.read_schema(root / rel), pq.read_schema(fixture / rel)
        assert ours.names == theirs.names, rel
        assert [str(t) for t in ours.types] == [str(t) for t in theirs.types], rel
    assert json.loads(pq.read_schema(root / "data/chunk-000/file-000.parquet").metadata[b"huggingface"])["info"][
        "features"] == json.loads(pq.read_schema(fixture / "data/chunk-000/file-000.parquet").metadata[b"huggingface"])[
        "info"]["features"]
    stats = json.loads((root / "meta/stats.json").read_text())
    ref_stats = json.loads((fixture / "meta/stats.json").read_text())
    assert set(stats) == set(ref_stats)
    assert all(set(stats[k]) == set(ref_stats[k]) for k in stats)
    assert info["splits"] == {"train": "0:2"} and info["total_tasks"] == 2


def test_round_trip_values(tmp_path):
    ds = record(tmp_path / "ds", episodes=3, length=10)
    loaded = LeRobotDataset("test/synthetic", root=tmp_path / "ds")
    assert len(loaded) == 30 and loaded.num_episodes == 3
    item = loaded[23]
    assert int(item["episode_index"]) == 2 and int(item["frame_index"]) == 3 and int(item["index"]) == 23
    assert item["task"] == "task 0" and int(item["task_index"]) == 0
    assert torch.equal(item["observation.state"], torch.from_numpy(frame(2, 3)["observation.state"]))
    assert item["timestamp"].dtype == torch.float32 and abs(float(item["timestamp"]) - 0.1) < 1e-6
    decoded = (item["observation.images.front"] * 255).permute(1, 2, 0).numpy()
    assert item["observation.images.front"].shape == (3, H, W)
    assert np.abs(decoded - image(2, 3).astype(np.float32)).mean() < 6  # lossy AV1, but the same picture
    meta = loaded.meta
    assert meta.episodes["length"] == [10, 10, 10]
    assert meta.episodes["videos/observation.images.front/from_timestamp"] == pytest.approx([0, 1 / 3, 2 / 3])
    assert meta.stats["observation.state"]["count"].tolist() == [30]
    np.testing.assert_allclose(meta.stats["observation.state"]["max"], np.arange(6) + 209)
    assert meta.stats["observation.images.front"]["mean"].shape == (3, 1, 1)
    assert count_video_frames(tmp_path / "ds/videos/observation.images.front/chunk-000/file-000.mp4") == 30
    assert not (tmp_path / "ds" / STAGING_DIR).exists()
    assert ds.dropped_frames == {} and loaded.meta.total_tasks == 2


def test_frame_validation_errors_name_the_feature(tmp_path):
    ds = LeRobotDataset.create("t/v", 30, features(), root=tmp_path / "ds")
    good = frame(0, 0)
    bad_cases = [
        ({k: v for k, v in good.items() if k != "action"}, "action"),
        ({**good, "action": np.zeros(5, np.float32)}, r"'action'.*expected shape \(6,\), got \(5,\)"),
        ({**good, "action": np.zeros(6, np.float64)}, "'action'.*expected dtype float32, got float64"),
        ({**good, "observation.images.front": np.zeros((10, 10, 3), np.uint8)}, "observation.images.front"),
        ({**good, "task": 3}, "'task'.*expected a non-empty str"),
        ({**good, "extra": 1}, "unknown feature"),
    ]
    for bad, message in bad_cases:
        with pytest.raises(ValueError, match=message):
            ds.add_frame(bad)
    assert ds.writer.num_frames == 0
    with pytest.raises(ValueError, match="empty"):
        ds.save_episode()
    ds.finalize()


def test_clear_episode_buffer_and_batch_encoding(tmp_path):
    ds = LeRobotDataset.create("t/b", 30, features(), root=tmp_path / "ds", streaming_encoding=False)
    for i in range(4):
        ds.add_frame(frame(0, i))
    ds.clear_episode_buffer()
    for i in range(8):
        ds.add_frame(frame(1, i))
    summary = ds.save_episode()
    ds.finalize()
    assert summary["length"] == 8 and summary["dropped_frames"] == {
        "observation.images.front": 0, "observation.images.wrist": 0}
    loaded = LeRobotDataset("t/b", root=tmp_path / "ds")
    assert len(loaded) == 8 and float(loaded[7]["observation.state"][0]) == 107
    assert count_video_frames(tmp_path / "ds/videos/observation.images.wrist/chunk-000/file-000.mp4") == 8


def test_files_roll_over_at_size_thresholds(tmp_path):
    record(tmp_path / "ds", episodes=3, length=6, data_files_size_in_mb=1e-6, video_files_size_in_mb=1e-6)
    meta = LeRobotDatasetMetadata("test/synthetic", root=tmp_path / "ds")
    assert meta.episodes["data/file_index"] == [0, 1, 2]
    assert meta.episodes["videos/observation.images.front/file_index"] == [0, 1, 2]
    assert meta.episodes["videos/observation.images.front/from_timestamp"] == [0.0, 0.0, 0.0]
    assert meta.episodes["meta/episodes/file_index"] == [0, 1, 2]
    assert (tmp_path / "ds/videos/observation.images.front/chunk-000/file-002.mp4").is_file()
    loaded = LeRobotDataset("test/synthetic", root=tmp_path / "ds", episodes=[2])
    assert len(loaded) == 6 and int(loaded[0]["index"]) == 12


def test_resume_appends_episodes_and_reuses_encoder(tmp_path):
    record(tmp_path / "ds", episodes=2, length=5, camera_encoder=VideoEncoderConfig(crf=40))
    ds = LeRobotDataset.resume("test/synthetic", root=tmp_path / "ds")
    assert ds.writer.camera_encoder.crf == 40
    for i in range(7):
        ds.add_frame(frame(2, i, task="new task"))
    ds.save_episode()
    ds.finalize()
    loaded = LeRobotDataset("test/synthetic", root=tmp_path / "ds")
    assert loaded.meta.total_episodes == 3 and len(loaded) == 17
    assert list(loaded.meta.tasks) == ["task 0", "task 1", "new task"]
    assert loaded[16]["task"] == "new task" and int(loaded[16]["task_index"]) == 2
    assert loaded.meta.episodes["videos/observation.images.front/from_timestamp"][2] == pytest.approx(10 / 30)
    assert loaded.meta.stats["action"]["count"].tolist() == [17]


def test_dropped_frames_are_counted_and_video_stays_aligned(tmp_path, monkeypatch):
    """An encoder slower than the producer drops frames (never blocks add_frame); gaps are refilled."""
    real_write = EpisodeVideoWriter.write

    def slow_write(self, rgb):
        time.sleep(0.01)
        real_write(self, rgb)

    monkeypatch.setattr(EpisodeVideoWriter, "write", slow_write)
    ds = LeRobotDataset.create("t/d", 30, features(cameras=("front",)), root=tmp_path / "ds",
                               encoder_queue_maxsize=2)
    start = time.perf_counter()
    for i in range(30):
        ds.add_frame(frame(0, i, cameras=("front",)))
    add_time = time.perf_counter() - start
    summary = ds.save_episode()
    ds.finalize()
    dropped = summary["dropped_frames"]["observation.images.front"]
    assert dropped > 0
    assert add_time < 30 * 0.01  # add_frame did not wait for the encoder
    assert count_video_frames(tmp_path / "ds/videos/observation.images.front/chunk-000/file-000.mp4") == 30
    loaded = LeRobotDataset("t/d", root=tmp_path / "ds")
    assert loaded[29]["observation.images.front"].shape == (3, H, W)


def test_image_dtype_string_and_language_columns(tmp_path):
    feats = features(use_video=False, cameras=("front",))
    feats["note"] = {"dtype": "string", "shape": (1,), "names": None}
    feats["language_persistent"] = {"dtype": "language", "shape": (1,), "names": None}
    feats["language_events"] = {"dtype": "language", "shape": (1,), "names": None}
    ds = LeRobotDataset.create("t/i", 10, feats, root=tmp_path / "ds", use_videos=False)
    for i in range(3):
        f = frame(0, i, cameras=("front",))
        f["note"] = f"n{i}"
        ds.add_frame(f)
    ds.save_episode()
    ds.finalize()
    schema = pq.read_schema(tmp_path / "ds/data/chunk-000/file-000.parquet")
    assert str(schema.field("observation.images.front").type) == "struct<bytes: binary, path: string>"
    assert schema.field("language_persistent").type.value_type.names[:4] == ["role", "content", "style", "timestamp"]
    assert json.loads(schema.metadata[b"huggingface"])["info"]["features"]["observation.images.front"] == {
        "_type": "Image"}
    loaded = LeRobotDataset("t/i", root=tmp_path / "ds", delta_timestamps={"observation.images.front": [-0.1, 0]})
    item = loaded[1]
    assert item["note"] == "n1" and item["language_events"] == [] and item["language_persistent"] == []
    assert item["observation.images.front"].shape == (2, 3, H, W)
    assert torch.equal((item["observation.images.front"][1] * 255).round().byte().permute(1, 2, 0),
                       torch.from_numpy(image(0, 1)))  # PNG is lossless
    assert item["observation.images.front_is_pad"].tolist() == [False, False]
    assert loaded.meta.image_keys == ["observation.images.front"] and loaded.meta.video_keys == []


def test_create_refuses_existing_dataset_and_bad_features(tmp_path):
    record(tmp_path / "ds", episodes=1, length=3)
    with pytest.raises(FileExistsError):
        LeRobotDataset.create("t", 30, features(), root=tmp_path / "ds")
    with pytest.raises(ValueError, match="dtype"):
        LeRobotDataset.create("t", 30, {"x": {"dtype": "complex", "shape": (1,)}}, root=tmp_path / "b")
    with pytest.raises(ValueError, match="multiple of 1/fps"):
        LeRobotDataset("t", root=tmp_path / "ds", delta_timestamps={"action": [0.01]})


def test_append_to_upstream_written_dataset(tmp_path, upstream_fixtures):
    """Episodes appended to the upstream fixture land in its files and everything still reads back."""
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(upstream_fixtures / "dataset_v30", root)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    ds = LeRobotDataset.resume("fixtures/so101_synth", root=root)
    for i in range(5):
        ds.add_frame({"observation.state": np.full(6, i, np.float32), "action": np.full(6, i, np.float32),
                      "observation.images.front": np.full((96, 128, 3), 100, np.uint8),
                      "observation.images.wrist": np.full((96, 128, 3), 150, np.uint8),
                      "task": "pick the red block"})
    ds.save_episode()
    ds.finalize()
    loaded = LeRobotDataset("fixtures/so101_synth", root=root)
    assert loaded.meta.total_episodes == 3 and len(loaded) == 85 and loaded.meta.total_tasks == 2
    assert loaded.meta.episodes["videos/observation.images.wrist/from_timestamp"][2] == pytest.approx(80 / 30)
    assert abs(float(loaded[84]["observation.images.wrist"].mean()) * 255 - 150) < 3
    assert int(loaded[84]["task_index"]) == 0 and loaded[84]["task"] == "pick the red block"
    assert count_video_frames(root / "videos/observation.images.front/chunk-000/file-000.mp4") == 85
    assert pq.read_schema(root / "meta/episodes/chunk-000/file-000.parquet").names == pq.read_schema(
        upstream_fixtures / "dataset_v30/meta/episodes/chunk-000/file-000.parquet").names
    assert loaded.meta.stats["action"]["count"].tolist() == [85]
