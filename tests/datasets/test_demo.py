"""`lerobot-core demo` records a synthetic two-camera dataset and reads it back."""

from __future__ import annotations

from lerobot_core import demo
from lerobot_core.datasets import LeRobotDataset


def test_demo_round_trip(tmp_path, capsys):
    root = tmp_path / "demo"
    assert demo.main(["--root", str(root), "--episodes", "2", "--frames", "10"]) == 0
    out = capsys.readouterr().out
    assert "recorded 2 episodes / 20 frames" in out
    assert "dropped frames" in out and "observation.images.wrist" in out
    ds = LeRobotDataset("demo/synthetic", root=root)
    assert len(ds) == 20 and ds.meta.video_keys == list(demo.CAMERAS)
