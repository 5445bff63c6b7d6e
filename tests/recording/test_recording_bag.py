"""rosbag2 (MCAP and sqlite3) → dataset: frames, fps, timestamps, images and actions traced to the messages at
those stamps, episode splits on task changes and gaps, dropped camera frames, inspect-bag and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from helpers.hf_hub_server import HubServer, hub_env

from lerobot_core.cli import main as cli_main
from lerobot_core.datasets import LeRobotDataset
from lerobot_core.recording import REPORT_PATH, RecordingConfig
from lerobot_core.recording.bag import convert_bags, inspect_bag

from .rec_streams import (
    JOINTS,
    command_positions,
    frame_image,
    mapping_dict,
    state_positions,
    stream_messages,
    write_bag,
)

T0 = 1_700_000_000_000_000_000
FPS = 30


def frame_k(item) -> int:
    """The stream frame a recorded row came from (state encodes k)."""
    k = round(float(item["observation.state"][0]) / 0.001)
    np.testing.assert_allclose(item["observation.state"].numpy(), state_positions(k), atol=1e-6)
    return k


def check_dataset(root, n_expected, *, exact=False):
    ds = LeRobotDataset("test/rec", root=root)
    assert ds.fps == FPS and ds.num_frames == n_expected
    assert ds.meta.features["observation.state"]["names"] == [f"{j}.pos" for j in JOINTS]
    ks = []
    for i in range(len(ds)):
        item = ds[i]
        k = frame_k(item)
        ks.append(k)
        assert float(item["timestamp"]) == pytest.approx(int(item["frame_index"]) / FPS, abs=1e-6)
        np.testing.assert_allclose(item["action"].numpy(), command_positions(k), atol=1e-6)  # action of that tick
        for cam, key in enumerate(("front", "wrist")):
            image = item[f"observation.images.{key}"].permute(1, 2, 0).numpy() * 255
            if exact:  # lossless PNG: exactly the frame published at k
                np.testing.assert_array_equal(image.round().astype(np.uint8), frame_image(k, cam, 24, 32))
            else:  # AV1: closest to the frame published at k
                errors = [np.abs(image - frame_image(j, cam, 24, 32)).mean() for j in range(k - 2, k + 3)]
                assert int(np.argmin(errors)) == 2 and errors[2] < 6, errors
    return ds, ks


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_convert_bag_frames_images_actions_align(tmp_path, storage):
    bag = write_bag(tmp_path / "bag", stream_messages(45, FPS, T0), storage)
    cfg = RecordingConfig.from_dict(mapping_dict(tmp_path / "ds", use_videos=storage == "mcap"))
    summary = convert_bags([bag], cfg, progress=False)
    assert summary["episodes"] == 1 and summary["frames"] == 45
    ds, ks = check_dataset(tmp_path / "ds", 45, exact=storage != "mcap")
    assert ks == list(range(45))
    assert ds[0]["task"] == "pick"
    report = json.loads((tmp_path / "ds" / REPORT_PATH).read_text())["episodes"][0]
    assert report["length"] == 45 and report["dropped_ticks"] == 0
    assert report["streams"]["observation.images.front"]["frames"] == 45
    assert report["streams"]["observation.images.front"]["rate_hz"] == pytest.approx(30.0, abs=0.1)


@pytest.mark.slow
def test_dropped_camera_frames_are_counted_not_duplicated_and_task_change_splits(tmp_path):
    msgs = stream_messages(40, FPS, T0, tasks=("pick", "place"), task_every=20, drop_camera={5, 6, 30})
    bag = write_bag(tmp_path / "bag", msgs, "mcap")
    cfg = RecordingConfig.from_dict(mapping_dict(tmp_path / "ds"))
    summary = convert_bags([bag], cfg, progress=False)
    assert summary["episodes"] == 2
    ds, ks = check_dataset(tmp_path / "ds", 37)
    assert ks == [k for k in range(40) if k not in (5, 6, 30)]
    assert [ds.meta.episodes[i]["length"] for i in range(2)] == [18, 19]
    assert [ds[0]["task"], ds[20]["task"]] == ["pick", "place"]
    reports = json.loads((tmp_path / "ds" / REPORT_PATH).read_text())["episodes"]
    front = [r["streams"]["observation.images.front"] for r in reports]
    assert [f["dropped"]["stale"] + f["dropped"]["repeat"] for f in front] == [2, 1]
    assert [r["dropped_ticks"] for r in reports] == [2, 1]
    assert [f["gaps"] for f in front] == [2, 1]  # the drops come from frames missing in the stream itself


@pytest.mark.slow
def test_time_gap_splits_episodes_and_several_bags_append(tmp_path):
    a = stream_messages(20, FPS, T0)
    b = stream_messages(15, FPS, T0 + 5_000_000_000)
    write_bag(tmp_path / "bag1", [m for m in a + b if m[0] != "/task" or m[2] == T0], "mcap")
    write_bag(tmp_path / "bag2", stream_messages(10, FPS, T0 + 60_000_000_000), "sqlite3")
    cfg = RecordingConfig.from_dict(mapping_dict(tmp_path / "ds", split_gap_s=1.0))
    summary = convert_bags([tmp_path / "bag1", tmp_path / "bag2"], cfg, progress=False)
    assert summary["episodes"] == 3
    ds = LeRobotDataset("test/rec", root=tmp_path / "ds")
    assert [ds.meta.episodes[i]["length"] for i in range(3)] == [20, 15, 10]


def test_inspect_bag_and_starter_mapping_roundtrip(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag", stream_messages(10, FPS, T0), "sqlite3")
    info = inspect_bag(bag)
    assert info["topics"]["/front/image_raw"] == {"type": "sensor_msgs/msg/Image", "count": 10, "rate_hz": 30.0}
    assert info["messages"] == 41
    out = tmp_path / "mapping.yaml"
    assert cli_main(["dataset", "inspect-bag", str(bag), "--mapping-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "/joint_states" in printed and "sensor_msgs/msg/JointState" in printed
    mapping = yaml.safe_load(out.read_text())
    cfg = RecordingConfig.from_dict(mapping)
    assert cfg.state.topic == "/joint_states" and cfg.state.joints == JOINTS
    assert cfg.action.topic == "/joint_commands" and cfg.task_topic == "/task" and cfg.fps == 30
    assert [c.key for c in cfg.cameras] == ["front", "wrist"]


@pytest.mark.slow
def test_from_bag_cli_and_errors(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag", stream_messages(12, FPS, T0), "mcap")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(yaml.safe_dump(mapping_dict(tmp_path / "unused")))
    root = tmp_path / "ds"
    assert cli_main(["dataset", "from-bag", str(bag), "--mapping", str(mapping), "--root", str(root),
                     "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 12 and summary["root"] == str(root)
    # appending needs --resume; a wrong topic names the topic and the bag's topics
    assert cli_main(["dataset", "from-bag", str(bag), "--mapping", str(mapping), "--root", str(root),
                     "--no-progress"]) == 1
    assert "already" in capsys.readouterr().err.lower()
    assert cli_main(["dataset", "from-bag", str(bag), "--mapping", str(mapping), "--root", str(root),
                     "--no-progress", "--resume"]) == 0
    assert LeRobotDataset("test/rec", root=root).num_episodes == 2
    bad = mapping_dict(tmp_path / "x")
    bad["state"]["topic"] = "/nope"
    mapping.write_text(yaml.safe_dump(bad))
    assert cli_main(["dataset", "from-bag", str(bag), "--mapping", str(mapping), "--no-progress"]) == 1
    assert "/nope" in capsys.readouterr().err


@pytest.mark.slow
def test_from_bag_push_to_hub(tmp_path, monkeypatch):
    bag = write_bag(tmp_path / "bag", stream_messages(10, FPS, T0), "mcap")
    mapping = mapping_dict(tmp_path / "ds")
    mapping["dataset"]["repo_id"] = "tester/from_bag"
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping))
    monkeypatch.setenv("HF_LEROBOT_HOME", str(tmp_path / "home"))
    with HubServer(tmp_path / "hub") as server, hub_env(server.url):
        assert cli_main(["dataset", "from-bag", str(bag), "--mapping", str(tmp_path / "m.yaml"), "--push",
                         "--no-progress"]) == 0
        pulled = LeRobotDataset("tester/from_bag")  # downloaded into $HF_LEROBOT_HOME
        assert pulled.num_frames == 10 and pulled.root != tmp_path / "ds"
        assert server.file_bytes("tester/from_bag", "meta/recording_report.json")


@pytest.mark.parametrize("units", ["degrees", "upstream"])
def test_units_degrees_and_upstream_calibration(tmp_path, units):
    from lerobot_core.motors.calibration import (
        MotorNormMode,
        calibration_from_limits,
        radians_to_upstream,
        save_calibration,
    )
    from lerobot_core.robots.so101_model import joint_limits

    calib = calibration_from_limits(joint_limits(), {j: i + 1 for i, j in enumerate(JOINTS)})
    save_calibration(tmp_path / "so101.json", calib)
    bag = write_bag(tmp_path / "bag", stream_messages(5, FPS, T0), "mcap")
    mapping = mapping_dict(tmp_path / "ds")
    mapping["state"].update(units=units, calibration=str(tmp_path / "so101.json"))
    convert_bags([bag], RecordingConfig.from_dict(mapping), progress=False)
    item = LeRobotDataset("test/rec", root=tmp_path / "ds")[2]
    if units == "degrees":
        expected = np.degrees(state_positions(2))
    else:
        expected = [radians_to_upstream(v, calib[j], MotorNormMode.RANGE_0_100 if j == "gripper"
                                        else MotorNormMode.RANGE_M100_100) for j, v in zip(JOINTS, state_positions(2))]
        assert min(expected) >= -100 and max(expected) <= 100
    np.testing.assert_allclose(item["observation.state"].numpy(), expected, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="state.calibration"):
        RecordingConfig.from_dict({"state": {"units": "upstream"}})
