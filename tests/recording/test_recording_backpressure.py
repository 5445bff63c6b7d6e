"""DatasetRecorder in threaded mode: a stalled writer never blocks `push`/`advance`; frames that find the bounded
queue full are dropped and counted in the episode report, and the saved episode holds the others."""

from __future__ import annotations

import threading
import time

from lerobot_core.datasets import LeRobotDataset
from lerobot_core.recording import DatasetRecorder, RecordingConfig

from .rec_streams import (
    command_positions,
    frame_image,
    image_msg,
    joint_state,
    mapping_dict,
    state_positions,
)

P = round(1e9 / 30)


def test_full_writer_queue_drops_and_counts_frames_without_blocking(tmp_path):
    mapping = mapping_dict(tmp_path / "ds")
    mapping["task_topic"] = ""
    rec = DatasetRecorder(RecordingConfig.from_dict(mapping), threaded=True, queue_size=4, log=lambda m: None)
    stall, busy = threading.Event(), threading.Event()
    rec._queue.put(("call", lambda: (busy.set(), stall.wait())))  # the writer thread is busy until released
    assert busy.wait(10)
    rec.start_episode(0)
    t0 = time.monotonic()
    for k in range(20):
        ns = k * P
        rec.push("state", ns, joint_state(ns, state_positions(k)), ns)
        rec.push("action", ns, joint_state(ns, command_positions(k)), ns)
        for cam, key in enumerate(("front", "wrist")):
            rec.push(f"camera:{key}", ns, image_msg(ns, frame_image(k, cam, 24, 32)), ns)
        rec.advance(ns + P)
    assert time.monotonic() - t0 < 1.0  # never waited for the writer
    assert rec.queue_max_depth == 4 and rec.queue_full_drops > 0
    stall.set()
    rec.save_episode(wait=True)
    rec.finish()
    rec.close()
    report = rec.reports[0]
    assert report["queue_full_drops"] == rec.queue_full_drops
    assert report["length"] == report["ticks"] - report["dropped_ticks"] - report["queue_full_drops"] == 4
    ds = LeRobotDataset("test/rec", root=tmp_path / "ds")
    assert ds.num_frames == 4
