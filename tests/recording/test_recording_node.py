"""The recorder node end to end over the native Zenoh backend (in-process router, node processes):
services (start/save/discard/finish), status topic, dataset content traced to the published messages,
metadata in meta/, SIGKILL during an episode, resume, and converter-vs-live on the same streams."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from lerobot_ros.runtime import QOS_DEFAULT, Node

from lerobot_core.datasets import LeRobotDataset
from lerobot_core.recording import REPORT_PATH, RecordingConfig
from lerobot_core.recording.bag import convert_bags

from .conftest import start_node, start_publisher, stop, wait_until
from .rec_streams import JOINTS, command_positions, frame_image, mapping_dict, state_positions

H, W = 24, 32


def recorder_params(root, **extra):
    return {
        "fps": 30, "state.topic": "/joint_states", "state.joints": list(JOINTS), "action.topic": "/joint_commands",
        "cameras": ["front", "wrist"], "camera.front.topic": "/front/image_raw", "camera.wrist.topic": "/wrist/image_raw",
        "task_topic": "/task", "episode_time_s": 0.0, "dataset.repo_id": "test/live", "dataset.root": str(root),
        "dataset.robot_type": "so101_follower", "status_period_s": 0.1, **extra,
    }  # fmt: skip


class Control:
    """Service client + status subscriber for the recorder node."""

    def __init__(self, ctx):
        self.node = Node("recorder_test_client", context=ctx, enable_rosout=False)
        self.status: dict = {}
        self.node.create_subscription("std_msgs/msg/String", "/recorder/status",
                                     lambda m: setattr(self, "status", json.loads(m.data)), QOS_DEFAULT)
        self.clients = {n: self.node.create_client("std_srvs/srv/Trigger", f"/recorder/{n}")
                        for n in ("start_episode", "save_episode", "discard_episode", "finish")}

    def call(self, name: str):
        client = self.clients[name]
        assert client.wait_for_service(20), f"/recorder/{name} not available"
        return client.call(timeout_s=20)

    def start(self, logs):
        started = self.status.get("started", 0)
        assert self.call("start_episode").success
        wait_until(lambda: self.status.get("started") == started + 1, 20, "the episode start on ~/status", logs)

    def wait_frames(self, n: int, logs, timeout: float = 30.0):
        wait_until(lambda: self.status.get("state") == "recording" and self.status.get("frames", 0) >= n, timeout,
                   f"{n} frames recorded (status {self.status})", logs)

    def close(self):
        self.node.destroy()


def trace(ds, exact: bool):
    """Frame k of every row; checks state, action, images against the published frame k."""
    ks = []
    for i in range(len(ds)):
        item = ds[i]
        k = round(float(item["observation.state"][0]) / 0.001)
        np.testing.assert_allclose(item["observation.state"].numpy(), state_positions(k), atol=1e-6)
        np.testing.assert_allclose(item["action"].numpy(), command_positions(k), atol=1e-6)
        for cam, key in enumerate(("front", "wrist")):
            image = item[f"observation.images.{key}"].permute(1, 2, 0).numpy() * 255
            if exact:
                np.testing.assert_array_equal(image.round().astype(np.uint8), frame_image(k, cam, H, W))
            else:
                errors = [np.abs(image - frame_image(j, cam, H, W)).mean() for j in range(k - 2, k + 3)]
                assert int(np.argmin(errors)) == 2 and errors[2] < 6, errors
        assert float(item["timestamp"]) == pytest.approx(int(item["frame_index"]) / 30, abs=1e-6)
        ks.append(k)
    return ks


def episode_ks(ds, ks):
    out, start = [], 0
    for e in range(ds.num_episodes):
        n = ds.meta.episodes[e]["length"]
        out.append(ks[start:start + n])
        start += n
    return out


@pytest.mark.e2e
@pytest.mark.slow
def test_record_save_discard_finish_then_sigkill_and_resume(tmp_path, router_env, make_context):
    root = tmp_path / "live"
    pub = start_publisher(tmp_path, router_env, size=(H, W))
    rec = start_node("recorder", recorder_params(root), tmp_path, router_env)
    control = Control(make_context())
    try:
        assert control.call("save_episode").success is False  # nothing recording yet
        for action in ("save_episode", "discard_episode", "save_episode"):
            control.start(tmp_path)
            control.wait_frames(20, tmp_path)
            response = control.call(action)
            assert response.success, response.message
        wait_until(lambda: control.status.get("saved") == 2 and control.status.get("discarded") == 1, 20, "status",
                   tmp_path)
        assert control.call("finish").success
        assert rec.wait(60) == 0
        ds = LeRobotDataset("test/live", root=root)
        assert ds.num_episodes == 2 and ds.fps == 30
        ks = trace(ds, exact=False)
        reports = json.loads((root / REPORT_PATH).read_text())["episodes"]
        assert [r["episode_index"] for r in reports] == [0, 1]
        for eks, report in zip(episode_ks(ds, ks), reports):
            assert len(eks) == report["length"] >= 20
            # every tick gave a frame or a counted drop; frames are consecutive published frames except drops
            assert report["ticks"] == report["length"] + report["dropped_ticks"] + report["queue_full_drops"]
            assert eks == sorted(eks) and eks[-1] - eks[0] + 1 - len(eks) <= report["ticks"] - report["length"]
            assert report["streams"]["observation.images.front"]["frames"] == report["length"]
            # loopback through a router loses nothing; the sequence-number accounting is present for every stream
            assert {k: s["transport_lost"] for k, s in report["streams"].items() if k != "task"} == {
                k: 0 for k in report["streams"] if k != "task"}
        assert episode_ks(ds, ks)[1][0] > episode_ks(ds, ks)[0][-1] + 20  # the discarded episode lies between
        assert (root / "meta" / "robot.urdf").read_text() == "<robot name='synthetic'/>"
        assert json.loads((root / "meta" / "camera_info.json").read_text())["front"]["height"] == H
        assert json.loads((root / "meta" / "tf_static.json").read_text())[0]["child_frame_id"] == "front_camera"

        # episode 3 (resume) killed with SIGKILL mid-episode: episodes 0-1 stay intact, the dataset appendable
        control.status = {}
        rec = start_node("recorder", recorder_params(root, **{"dataset.resume": True}), tmp_path, router_env,
                         log_name="recorder_resume")
        wait_until(lambda: control.status.get("state") == "idle", 30, "the resumed recorder", tmp_path)
        control.start(tmp_path)
        control.wait_frames(30, tmp_path)
        rec.send_signal(signal.SIGKILL)
        rec.wait(10)
        ds = LeRobotDataset("test/live", root=root)
        assert ds.num_episodes == 2 and trace(ds, exact=False) == ks
        rec = start_node("recorder", recorder_params(root, **{"dataset.resume": True, "auto": True,
                                                              "episode_time_s": 1.0, "num_episodes": 1}),
                         tmp_path, router_env, log_name="recorder_auto")  # fmt: skip
        assert rec.wait(60) == 0  # automatic mode: one episode of 30 ticks, then finish and exit
        ds = LeRobotDataset("test/live", root=root)
        assert ds.num_episodes == 3
        last = json.loads((root / REPORT_PATH).read_text())["episodes"][-1]
        assert last["episode_index"] == 2 and last["ticks"] == 30 and last["length"] == ds.meta.episodes[2]["length"]
        assert trace(ds, exact=False)[: len(ks)] == ks
    finally:
        control.close()
        stop(rec)
        stop(pub)


@pytest.mark.e2e
@pytest.mark.slow
def test_converter_matches_live_recording_of_the_same_streams(tmp_path, router_env, make_context):
    bag = tmp_path / "bag"
    pub = start_publisher(tmp_path, router_env, bag=bag, size=(H, W))
    rec = start_node("recorder", recorder_params(tmp_path / "live", **{"dataset.use_videos": False}), tmp_path,
                     router_env)
    control = Control(make_context())
    try:
        for _ in range(2):
            control.start(tmp_path)
            control.wait_frames(25, tmp_path)
            assert control.call("save_episode").success
        assert control.call("finish").success
        assert rec.wait(60) == 0
    finally:
        control.close()
        stop(rec)
        assert stop(pub) == 0
    live = LeRobotDataset("test/live", root=tmp_path / "live")
    live_ks = episode_ks(live, trace(live, exact=True))
    config = RecordingConfig.from_dict(mapping_dict(tmp_path / "conv", use_videos=False, split_gap_s=0.0))
    summary = convert_bags([bag], config, progress=False)
    assert summary["episodes"] == 1
    conv = LeRobotDataset("test/rec", root=tmp_path / "conv")
    conv_ks = trace(conv, exact=True)
    # the bag holds the same messages: its frames are consecutive except the drops it reports
    report = summary["reports"][0]
    assert conv_ks == sorted(conv_ks) and conv_ks[-1] - conv_ks[0] + 1 - len(conv_ks) <= report["dropped_ticks"]
    live_rows = {k: i for i, k in enumerate(k for eks in live_ks for k in eks)}
    conv_rows = {k: i for i, k in enumerate(conv_ks)}
    shared = [k for k in live_rows if k in conv_rows]
    # the same synchronizer on the same stamps picks the same frames (a publisher hiccup may shift one or two)
    assert len(shared) >= 0.9 * len(live_rows), (len(shared), len(live_rows))
    for k in shared:  # identical content for the same tick
        a, b = live[live_rows[k]], conv[conv_rows[k]]
        for key in ("observation.state", "action", "observation.images.front", "observation.images.wrist"):
            assert np.array_equal(a[key].numpy(), b[key].numpy()), key
