"""Image/CompressedImage/JointState/stamp conversions with cv_bridge's semantics (passthrough, step, endianness)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from lerobot_ros.runtime import conversions as conv
from lerobot_ros.runtime.msgs import deserialize, msg_class, serialize

ENCODINGS = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4),
             "mono8": (np.uint8, 1), "mono16": (np.uint16, 1), "16UC1": (np.uint16, 1), "32FC1": (np.float32, 1)}  # fmt: skip


def _array(draw, encoding: str) -> np.ndarray:
    dtype, channels = ENCODINGS[encoding]
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 7))) + ((channels,) if channels > 1 else ())
    elements = st.floats(-1e6, 1e6, width=32) if dtype is np.float32 else None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(sorted(ENCODINGS)))
def test_image_round_trip_through_cdr(data, encoding: str) -> None:
    arr = _array(data.draw, encoding)
    msg = conv.numpy_to_image(arr, encoding, stamp=12.5, frame_id="cam")
    assert msg.step == arr.shape[1] * arr.itemsize * (arr.shape[2] if arr.ndim == 3 else 1)
    assert msg.is_bigendian == 0 and msg.header.frame_id == "cam" and msg.header.stamp.sec == 12
    again = deserialize(serialize(msg), "sensor_msgs/msg/Image")
    out = conv.image_to_numpy(again)
    assert out.dtype == arr.dtype and out.shape == arr.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, arr)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(sorted(ENCODINGS)), st.integers(1, 9), st.booleans())
def test_padding_and_big_endian_are_decoded(data, encoding: str, pad: int, big: bool) -> None:
    arr = _array(data.draw, encoding)
    h, w = arr.shape[:2]
    wire = arr.astype(arr.dtype.newbyteorder(">" if big else "<"))
    rows = wire.reshape(h, -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    msg = msg_class("sensor_msgs/msg/Image")(
        header=conv._header(None, ""), height=h, width=w, encoding=encoding, is_bigendian=int(big),
        step=padded.shape[1], data=padded.reshape(-1).copy(),
    )  # fmt: skip
    out = conv.image_to_numpy(msg)
    assert out.dtype.isnative and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_passthrough_keeps_channel_order_and_mono_is_2d() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    assert conv.image_to_numpy(conv.numpy_to_image(rgb, "rgb8"))[0, 0].tolist() == [200, 0, 0]
    assert conv.image_to_numpy(conv.numpy_to_image(rgb, "bgr8"))[0, 0].tolist() == [200, 0, 0]
    assert conv.image_to_numpy(conv.numpy_to_image(np.zeros((2, 3), np.uint16), "mono16")).shape == (2, 3)


def test_passthrough_encoding_is_the_opencv_type_and_mismatches_are_errors() -> None:
    assert conv.numpy_to_image(np.zeros((2, 2, 3), np.uint8)).encoding == "8UC3"
    assert conv.numpy_to_image(np.zeros((2, 2), np.float32)).encoding == "32FC1"
    assert conv.numpy_to_image(np.zeros((2, 2), np.float64)).encoding == "64FC1"
    with pytest.raises(
        ValueError, match="encoding specified as 32FC1, but image has incompatible type 64FC1"
    ):
        conv.numpy_to_image(np.zeros((2, 2), np.float64), "32FC1")
    with pytest.raises(ValueError, match="encoding specified as rgb8, but image has incompatible type 8UC4"):
        conv.numpy_to_image(np.zeros((2, 2, 4), np.uint8), "rgb8")
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv9'"):
        conv.image_to_numpy(conv.numpy_to_image(np.zeros((2, 2), np.uint8), "mono8").__class__(
            header=conv._header(None, ""), height=1, width=1, encoding="yuv9", is_bigendian=0, step=1,
            data=np.zeros(1, np.uint8)))  # fmt: skip


def test_big_endian_dtype_sets_is_bigendian_like_cv_bridge() -> None:
    arr = np.arange(6, dtype=">u2").reshape(2, 3)
    msg = conv.numpy_to_image(arr, "mono16")
    assert (
        msg.is_bigendian == 1 and bytes(msg.data[:2]) == b"\x00\x00" and bytes(msg.data[2:4]) == b"\x00\x01"
    )
    np.testing.assert_array_equal(conv.image_to_numpy(msg), arr)


def test_short_data_or_step_is_a_clear_error() -> None:
    msg = conv.numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.data = msg.data[:-1]
    with pytest.raises(ValueError, match="Image data has 47 bytes"):
        conv.image_to_numpy(msg)
    msg.step = 5
    with pytest.raises(ValueError, match="step 5 is smaller"):
        conv.image_to_numpy(msg)


def test_desired_encoding_conversions_match_opencv() -> None:
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    msg = conv.numpy_to_image(bgr, "bgr8")
    np.testing.assert_array_equal(conv.image_to_numpy(msg, "rgb8"), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    np.testing.assert_array_equal(conv.image_to_numpy(msg, "bgra8"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    np.testing.assert_array_equal(conv.image_to_numpy(msg, "rgba8"), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA))
    np.testing.assert_array_equal(conv.image_to_numpy(msg, "mono8"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    rgba = conv.numpy_to_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA), "rgba8")
    np.testing.assert_array_equal(conv.image_to_numpy(rgba, "bgr8"), bgr)
    mono = conv.numpy_to_image(bgr[..., 0].copy(), "mono8")
    np.testing.assert_array_equal(
        conv.image_to_numpy(mono, "bgr8"), cv2.cvtColor(bgr[..., 0], cv2.COLOR_GRAY2BGR)
    )
    # depth changes scale like cv::Mat::convertTo (rounded, saturated)
    expected16 = np.rint(bgr.astype(np.float64) * (65535 / 255)).astype(np.uint16)
    np.testing.assert_array_equal(conv.image_to_numpy(msg, "bgr16"), expected16)
    m16 = conv.numpy_to_image(np.array([[0, 128, 65535]], np.uint16), "mono16")
    assert conv.image_to_numpy(m16, "mono8").tolist() == [[0, 0, 255]]
    depth = conv.numpy_to_image(np.array([[-3.0, 1.6, 300.0]], np.float32), "32FC1")
    assert conv.image_to_numpy(depth, "8UC1").tolist() == [[0, 2, 255]]  # convertTo: unscaled, saturated
    assert conv.image_to_numpy(m16, "16UC1").tolist() == [[0, 128, 65535]]
    assert conv.image_to_numpy(conv.numpy_to_image(bgr, "bgr8"), "8UC3").tolist() == bgr.tolist()
    with pytest.raises(ValueError, match=r"\[32FC1\] is not a color format. but \[mono8\] is"):
        conv.image_to_numpy(depth, "mono8")
    with pytest.raises(ValueError, match="channel counts differ"):
        conv.image_to_numpy(depth, "8UC3")
    with pytest.raises(ValueError, match="channel counts differ"):
        conv.image_to_numpy(msg, "8UC1")


@pytest.mark.parametrize("use_opencv", [True, False])
def test_compressed_png_round_trip_is_lossless(use_opencv: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_opencv:
        monkeypatch.setattr(conv, "_cv2", lambda: None)  # the Pillow path used where OpenCV is not installed
    rng = np.random.default_rng(1)
    for arr in (rng.integers(0, 256, (6, 5, 3), np.uint8), rng.integers(0, 256, (6, 5), np.uint8),
                rng.integers(0, 256, (4, 4, 4), np.uint8)):  # fmt: skip
        msg = conv.numpy_to_compressed_image(arr, "png", stamp=1.0)
        assert msg.format == "png" and bytes(msg.data[:4]) == b"\x89PNG"
        np.testing.assert_array_equal(conv.compressed_image_to_numpy(msg), arr)
    rgb = rng.integers(0, 256, (6, 5, 3), np.uint8)
    msg = conv.numpy_to_compressed_image(rgb, "png", encoding="rgb8")
    np.testing.assert_array_equal(conv.compressed_image_to_numpy(msg, "rgb8"), rgb)
    np.testing.assert_array_equal(conv.compressed_image_to_numpy(msg), rgb[..., ::-1])  # passthrough is BGR


@pytest.mark.parametrize("use_opencv", [True, False])
def test_compressed_jpeg_is_close_and_bgr(use_opencv: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_opencv:
        monkeypatch.setattr(conv, "_cv2", lambda: None)
    bgr = np.zeros((32, 32, 3), np.uint8)
    bgr[..., 0] = 255  # blue in BGR order
    msg = conv.numpy_to_compressed_image(bgr, "jpeg", quality=95)
    assert msg.format == "jpeg" and bytes(msg.data[:2]) == b"\xff\xd8"
    out = conv.compressed_image_to_numpy(msg)
    assert out.shape == bgr.shape and np.abs(out.astype(int) - bgr).max() <= 3


def test_compressed_matches_cv2_and_rejects_garbage() -> None:
    bgr = np.random.default_rng(2).integers(0, 256, (8, 8, 3), np.uint8)
    msg = conv.numpy_to_compressed_image(bgr, "jpg", quality=90)
    assert bytes(msg.data) == cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    msg.data = np.frombuffer(b"not an image", np.uint8).copy()
    with pytest.raises(ValueError, match="cannot decode CompressedImage"):
        conv.compressed_image_to_numpy(msg)
    with pytest.raises(ValueError, match="unsupported compressed format"):
        conv.numpy_to_compressed_image(bgr, "webp2")


names_st = st.lists(st.text("abcdefghij_", min_size=1, max_size=8), min_size=0, max_size=6, unique=True)
finite = st.floats(-1e6, 1e6)


@given(names_st, st.data())
def test_joint_state_round_trip(names: list[str], data) -> None:
    full = {n: conv.JointSample(data.draw(finite), data.draw(finite), data.draw(finite)) for n in names}
    msg = deserialize(serialize(conv.dict_to_joint_state(full, stamp=3.25)), "sensor_msgs/msg/JointState")
    assert conv.joint_state_to_dict(msg) == full and list(conv.joint_state_to_dict(msg)) == names
    positions = {n: data.draw(finite) for n in names}
    msg = conv.dict_to_joint_state(positions)
    assert len(msg.velocity) == 0 and len(msg.effort) == 0
    decoded = conv.joint_state_to_dict(msg)
    assert {n: s.position for n, s in decoded.items()} == positions
    assert all(math.isnan(s.velocity) and math.isnan(s.effort) for s in decoded.values())


def test_joint_state_errors() -> None:
    msg = conv.dict_to_joint_state({"a": 1.0, "b": 2.0})
    msg.velocity = np.array([1.0])
    with pytest.raises(ValueError, match=r"JointState.velocity has 1 values for 2 joint names"):
        conv.joint_state_to_dict(msg)
    with pytest.raises(ValueError, match="joint 'a'"):
        conv.dict_to_joint_state({"a": (1.0, 2.0)})


@given(st.integers(-(2**31) * 10**9, (2**31 - 1) * 10**9 + 999_999_999))
def test_stamp_ns_round_trip(ns: int) -> None:
    stamp = conv.ns_to_stamp(ns)
    assert 0 <= stamp.nanosec < 10**9 and conv.stamp_to_ns(stamp) == ns


@given(st.floats(-1e9, 2e9))
def test_stamp_seconds_round_trip(t: float) -> None:
    stamp = conv.sec_to_stamp(t)
    assert 0 <= stamp.nanosec < 10**9
    assert abs(conv.stamp_to_sec(stamp) - t) <= 1e-9 * max(1.0, abs(t)) * 2


def test_stamp_examples() -> None:
    assert (conv.sec_to_stamp(1.5).sec, conv.sec_to_stamp(1.5).nanosec) == (1, 500_000_000)
    assert (conv.sec_to_stamp(-0.25).sec, conv.sec_to_stamp(-0.25).nanosec) == (-1, 750_000_000)
    assert (conv.sec_to_stamp(0.9999999999).sec, conv.sec_to_stamp(0.9999999999).nanosec) == (1, 0)
    with pytest.raises(ValueError):
        conv.sec_to_stamp(math.nan)
    with pytest.raises(OverflowError):
        conv.ns_to_stamp(2**31 * 10**9)
