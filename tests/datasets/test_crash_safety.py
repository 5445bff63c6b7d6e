"""A recorder killed mid-episode, or hitting a write error, never damages saved episodes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers_record import features, frame

from lerobot_core.datasets import LeRobotDataset
from lerobot_core.datasets.video import count_video_frames

TESTS_DIR = Path(__file__).resolve().parent

RECORDER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests_dir!r})
    from helpers_record import frame, features
    from lerobot_core.datasets import LeRobotDataset
    ds = LeRobotDataset.create("t/crash", 30, features(), root={root!r})
    for ep in range(2):
        for i in range(10):
            ds.add_frame(frame(ep, i))
        ds.save_episode()
    for i in range(25):  # third episode, never saved
        ds.add_frame(frame(2, i))
    print("RECORDING", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_sigkill_mid_episode_keeps_saved_episodes_and_allows_append(tmp_path):
    root = tmp_path / "ds"
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDER.format(tests_dir=str(TESTS_DIR), root=str(root))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        line = ""
        while time.time() < deadline and "RECORDING" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "RECORDING" in line, "recorder did not reach the third episode"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    loaded = LeRobotDataset("t/crash", root=root)
    assert loaded.meta.total_episodes == 2 and len(loaded) == 20
    assert int(loaded[19]["index"]) == 19 and loaded[19]["observation.images.wrist"].shape[0] == 3
    resumed = LeRobotDataset.resume("t/crash", root=root)
    for i in range(5):
        resumed.add_frame(frame(3, i))
    resumed.save_episode()
    resumed.finalize()
    again = LeRobotDataset("t/crash", root=root)
    assert again.meta.total_episodes == 3 and len(again) == 25
    assert float(again[24]["observation.state"][0]) == 304.0
    assert again.meta.episodes["videos/observation.images.front/from_timestamp"][2] == pytest.approx(20 / 30)
    assert not (root / ".cache/staging").exists()


FILE_LIMIT = textwrap.dedent(
    """
    import json, resource, signal, sys
    sys.path.insert(0, {tests_dir!r})
    from helpers_record import frame, features
    from lerobot_core.datasets import LeRobotDataset
    ds = LeRobotDataset.create("t/full", 30, features(), root={root!r}, streaming_encoding={streaming})
    for i in range(10):
        ds.add_frame(frame(0, i))
    ds.save_episode()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # exceeding the limit -> EFBIG, like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        for i in range(60):
            ds.add_frame(frame(1, i))
        ds.save_episode()
        print(json.dumps({{"error": None}}))
    except Exception as e:
        print(json.dumps({{"error": type(e).__name__, "message": str(e)}}))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("streaming", [False, True])
def test_write_error_raises_clearly_and_keeps_saved_episodes(tmp_path, streaming):
    root = tmp_path / "ds"
    script = FILE_LIMIT.format(tests_dir=str(TESTS_DIR), root=str(root), streaming=streaming)
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=300, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"] is not None, "the save should have failed"
    assert "too large" in result["message"].lower() or "could not write" in result["message"]
    loaded = LeRobotDataset("t/full", root=root)
    assert loaded.meta.total_episodes == 1 and len(loaded) == 10
    assert loaded[9]["observation.images.front"].shape[0] == 3
    info = json.loads((root / "meta/info.json").read_text())
    assert info["total_frames"] == 10


def test_failure_inside_commit_leaves_previous_state_and_extras_are_dropped(tmp_path):
    """A save that fails after data/video/episode files were replaced (stats.json write fails here) is not
    committed: readers see the old totals, and the next episode overwrites the uncommitted leftovers."""
    root = tmp_path / "ds"
    ds = LeRobotDataset.create("t/commit", 30, features(), root=root)
    for i in range(6):
        ds.add_frame(frame(0, i))
    ds.save_episode()
    (root / "meta/stats.json").unlink()
    (root / "meta/stats.json").mkdir()  # the atomic rename onto it fails like an I/O error would
    for i in range(9):
        ds.add_frame(frame(1, i))
    with pytest.raises(OSError, match="stats.json"):
        ds.save_episode()
    (root / "meta/stats.json").rmdir()
    loaded = LeRobotDataset("t/commit", root=root)
    assert loaded.meta.total_episodes == 1 and len(loaded) == 6 and len(loaded.meta.episodes) == 1
    for i in range(4):
        ds.add_frame(frame(2, i))
    ds.save_episode()
    ds.finalize()
    again = LeRobotDataset("t/commit", root=root)
    assert again.meta.total_episodes == 2 and len(again) == 10
    assert float(again[9]["observation.state"][0]) == 203.0
    assert again.meta.episodes["videos/observation.images.front/to_timestamp"] == pytest.approx([6 / 30, 10 / 30])
    assert again[9]["observation.images.front"].shape[0] == 3  # frame 10 decodes at its own timestamp
    assert again.meta.stats["action"]["count"].tolist() == [10]
    assert count_video_frames(root / "videos/observation.images.front/chunk-000/file-000.mp4") == 10
