"""Keyboard control of the recorder node on a pseudo-terminal: → start/save, ← discard and re-record, Esc finish;
and no keyboard thread when stdin is not a TTY."""

from __future__ import annotations

import io
import json
import os
import pty

import pytest
from lerobot_ros.nodes.recorder import RecorderNode
from lerobot_ros.runtime import Node

from lerobot_core.datasets import LeRobotDataset
from lerobot_core.recording import REPORT_PATH

from .conftest import start_publisher, stop, wait_until
from .rec_streams import JOINTS

RIGHT, LEFT, ESC = b"\x1b[C", b"\x1b[D", b"\x1b"


def params(root):
    return {"state.joints": JOINTS, "cameras": ["front"], "camera.front.topic": "/front/image_raw",
            "task": "keyboard task", "episode_time_s": 0.0, "dataset.repo_id": "test/keys", "dataset.root": str(root),
            "exit_on_finish": False}  # fmt: skip


@pytest.mark.e2e
def test_keyboard_control_on_a_tty(tmp_path, router_env, make_context):
    pub = start_publisher(tmp_path, router_env)
    master, slave = pty.openpty()
    stdin = os.fdopen(slave, "rb", buffering=0)
    node = Node("recorder", context=make_context(), parameter_overrides=params(tmp_path / "ds"), enable_rosout=False)
    rec = RecorderNode(node, stdin=stdin)
    try:
        assert rec._keyboard is not None and rec.keyboard_ready.wait(10)

        def frames(n):
            return lambda: rec.state == "recording" and rec.recorder.frames_in_episode >= n

        os.write(master, RIGHT)  # start
        wait_until(frames(10), 30, "recording", tmp_path)
        os.write(master, RIGHT)  # save
        wait_until(lambda: rec.saved == 1 and rec.state == "idle", 10, "saved", tmp_path)
        os.write(master, RIGHT)  # start the next one
        wait_until(frames(10), 30, "recording", tmp_path)
        os.write(master, LEFT)  # discard and re-record at once
        wait_until(lambda: rec.discarded == 1 and rec.started == 3, 10, "re-recording", tmp_path)
        wait_until(frames(10), 30, "re-recording frames", tmp_path)
        os.write(master, ESC)  # finish: the running episode is saved, then the dataset finalized
        wait_until(lambda: rec.state == "finished", 60, "finished", tmp_path)
        assert rec.status()["saved"] == 2
    finally:
        rec.close()
        node.destroy()
        stdin.close()
        os.close(master)
        stop(pub)
    ds = LeRobotDataset("test/keys", root=tmp_path / "ds")
    assert ds.num_episodes == 2 and ds[0]["task"] == "keyboard task"
    assert len(json.loads((tmp_path / "ds" / REPORT_PATH).read_text())["episodes"]) == 2


def test_no_keyboard_without_a_tty_and_bad_parameters_are_named(tmp_path, make_context):
    ctx = make_context()
    node = Node("recorder", context=ctx, parameter_overrides=params(tmp_path / "ds"), enable_rosout=False)
    rec = RecorderNode(node, stdin=io.BytesIO())
    try:
        assert rec._keyboard is None and rec.state == "idle"
        assert rec.status()["state"] == "idle" and rec.save().startswith("nothing")
    finally:
        rec.close()
        node.destroy()
    bad = Node("recorder2", context=ctx, parameter_overrides={**params(tmp_path / "x"), "state.units": "furlongs"},
               enable_rosout=False)
    with pytest.raises(ValueError, match="state.units"):
        RecorderNode(bad)
    bad.destroy()
