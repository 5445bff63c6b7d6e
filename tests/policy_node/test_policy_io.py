"""The policy node's mapping without a graph: joint names from dataset metadata, units, RGB order of every
image encoding, resizing, and the start-up checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lerobot_ros.nodes.policy_io import (
    CameraSource,
    FeatureMap,
    ObservationBuffer,
    PolicyStartupError,
    UnitConverter,
    check_sources,
    dataset_info,
    info_from_checkpoint,
    resize_rgb,
    resolve_names,
    to_rgb,
)
from lerobot_ros.runtime.conversions import numpy_to_compressed_image, numpy_to_image

from .conftest import DATASET

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
INPUTS = {"observation.state": None, "observation.images.front": None, "observation.images.wrist": None}


def rgb_pattern() -> np.ndarray:
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :, 0] = 220  # red everywhere
    image[:24, :, 2] = 90  # blue in the top half
    image[:, :16, 1] = 30
    return image


def test_names_from_dataset_metadata_train_config_and_default(tmp_path) -> None:
    info = dataset_info(DATASET)
    assert resolve_names([], info, "observation.state", 6, "state") == JOINTS
    ours = {"features": {"action": {"names": [f"{j}.pos" for j in JOINTS[::-1]]}}}
    fmap = FeatureMap("observation.state", [], resolve_names([], ours, "action", 6, "action"), JOINTS)
    assert fmap.action_joints == JOINTS[::-1]  # `.pos` dropped, dataset order kept
    legacy = {"features": {"action": {"names": {"motors": JOINTS[:2]}}}}
    assert resolve_names([], legacy, "action", 2, "action") == JOINTS[:2]
    assert resolve_names([], None, "action", 6, "action") == [f"{j}.pos" for j in JOINTS]  # SO-101 default
    with pytest.raises(PolicyStartupError, match="7 values and no names"):
        resolve_names([], None, "action", 7, "action")
    with pytest.raises(PolicyStartupError, match="5 names from the parameter"):
        resolve_names(JOINTS[:5], info, "action", 6, "action")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "train_config.json").write_text(json.dumps({"dataset": {"root": str(DATASET)}}))
    assert info_from_checkpoint(tmp_path / "ckpt")["fps"] == 30
    assert info_from_checkpoint(tmp_path) is None


@pytest.mark.parametrize("units", ["radians", "degrees", "upstream"])
def test_units_round_trip(units) -> None:
    conv = UnitConverter(units, JOINTS)
    rad = np.array([0.3, -0.5, 1.0, -1.2, 2.0, 0.8])
    values = conv.to_policy(rad)
    np.testing.assert_allclose(conv.to_radians(values), rad, atol=2e-3)  # upstream: 4096-tick resolution
    if units == "degrees":
        np.testing.assert_allclose(values, np.degrees(rad), rtol=1e-6)
    if units == "upstream":
        assert values[:5].min() >= -100 and values[:5].max() <= 100 and 0 <= values[5] <= 100
        assert conv.to_policy(np.zeros(6))[0] == pytest.approx(0.0, abs=0.1)  # mid-range of a symmetric joint
    with pytest.raises(PolicyStartupError, match="units"):
        UnitConverter("ticks", JOINTS)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "jpeg", "png"])
def test_every_encoding_reaches_the_policy_as_rgb(encoding) -> None:
    rgb = rgb_pattern()
    if encoding in ("jpeg", "png"):
        msg, msg_type = numpy_to_compressed_image(rgb, encoding, encoding="rgb8", quality=100), \
            "sensor_msgs/msg/CompressedImage"
    else:
        order = {"rgb8": [0, 1, 2], "bgr8": [2, 1, 0], "rgba8": [0, 1, 2], "bgra8": [2, 1, 0]}[encoding]
        pixels = rgb[..., order]
        if encoding.endswith("a8"):
            pixels = np.concatenate([pixels, np.full((48, 64, 1), 255, np.uint8)], axis=2)
        msg, msg_type = numpy_to_image(np.ascontiguousarray(pixels), encoding), "sensor_msgs/msg/Image"
    out = to_rgb(msg, msg_type)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    if encoding == "jpeg":  # lossy (chroma subsampling blurs the edges)
        assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 3
    else:
        np.testing.assert_array_equal(out, rgb)
    assert out[0, 40, 0] > 200 and out[0, 40, 2] > 80 and out[40, 40, 2] < 10  # red stays red, blue stays blue


def test_resize_to_the_training_shape() -> None:
    rgb = rgb_pattern()
    small = resize_rgb(rgb, 24, 32)
    assert small.shape == (24, 32, 3) and small.dtype == np.uint8
    assert small[0, 20, 2] == 90 and small[20, 20, 2] == 0  # area averaging keeps the halves apart
    assert resize_rgb(rgb, 96, 128).shape == (96, 128, 3)
    assert resize_rgb(rgb, 48, 64) is rgb


def test_start_up_checks_name_every_problem() -> None:
    cams = {k: CameraSource(k, f"/{k}", "sensor_msgs/msg/Image", 96, 128)
            for k in ("observation.images.front", "observation.images.wrist")}
    names = [f"{j}.pos" for j in JOINTS]
    check_sources(INPUTS, FeatureMap("observation.state", names, names, JOINTS, cams), command_type="forward")
    inputs = {**INPUTS, "observation.environment_state": None}
    only_front = {"observation.images.front": cams["observation.images.front"]}
    with pytest.raises(PolicyStartupError) as err:
        check_sources(inputs, FeatureMap("observation.state", names, names, JOINTS[:5], only_front),
                      command_type="trajectory")
    text = str(err.value)
    assert "observation.images.wrist" in text and "observation.environment_state" in text
    assert "['gripper'] are not commanded joints" in text
    with pytest.raises(PolicyStartupError, match="forward needs an action for every joint"):
        check_sources(INPUTS, FeatureMap("observation.state", names, names[:5], JOINTS, cams), command_type="forward")


def test_observation_buffer_is_complete_only_with_every_input() -> None:
    buf = ObservationBuffer(["observation.state", "observation.images.front"])
    buf.put("observation.state", np.zeros(6, np.float32), 10.0)
    assert buf.snapshot() is None and buf.missing() == ["observation.images.front"]
    buf.put("observation.images.front", np.zeros((2, 2, 3), np.uint8), 12.0)
    snap = buf.snapshot()
    assert snap.oldest == 10.0 and set(snap.data) == set(buf.keys)
    buf.put("observation.state", np.ones(6, np.float32), 13.0)
    assert buf.snapshot().oldest == 12.0 and buf.snapshot().seq > snap.seq
