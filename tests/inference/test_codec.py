"""Wire schema and codecs: golden header bytes, round trips, JPEG RGB order, key expressions, and fuzzing
(every decoder raises ValueError on garbage, never anything else)."""

from __future__ import annotations

import contextlib

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lerobot_core.inference import codec
from lerobot_core.inference.schema import (
    HEADER_SIZE,
    ActionChunkMsg,
    MsgHeader,
    ObservationMsg,
    SessionOpenMsg,
    StatusMsg,
    client_uuid_from_key,
    obs_key,
    sanitize_key_segment,
    service_prefix,
)


def test_header_golden_bytes() -> None:
    h = MsgHeader(schema_version=1, msg_type=2, seq_id=0x0102030405060708, episode_id=7, client_mono_ns=-2,
                  session_epoch=3)
    data = h.pack()
    assert HEADER_SIZE == 27 and len(data) == 27
    assert data.hex() == "0100" + "02" + "0807060504030201" + "07000000" + "feffffffffffffff" + "03000000"
    assert MsgHeader.unpack(data) == h
    with pytest.raises(ValueError, match="Bad header length"):
        MsgHeader.unpack(data[:-1])


def test_tensor_round_trip_is_exact() -> None:
    for arr in (np.arange(12, dtype=np.float32).reshape(3, 4) / 7, np.array(3.5), np.zeros((0, 6), np.float32),
                np.array([1, -2], ">i4"), np.array([True, False])):
        out = codec.decode_tensor(codec.encode_tensor(arr))
        assert out.shape == arr.shape and out.dtype.kind == arr.dtype.kind
        np.testing.assert_array_equal(out, arr)
    with pytest.raises(ValueError, match="not allowed"):
        codec.decode_tensor({"dtype": "|O", "shape": [1], "data": b"\0" * 8})
    with pytest.raises(ValueError, match="do not hold"):
        codec.decode_tensor({"dtype": "<f4", "shape": [3], "data": b"\0" * 8})


def test_observation_round_trip_raw_and_jpeg_rgb_order() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    msg = ObservationMsg(state=np.array([1.5, -2], np.float32), images={"observation.images.front": img},
                         task="stack", inference_delay_steps=3, prefix_model=np.ones((2, 3), np.float32),
                         episode_start=True, jpeg_quality=0)
    out = codec.decode_observation(codec.encode_observation(msg))
    np.testing.assert_array_equal(out.images["observation.images.front"], img)
    assert out.task == "stack" and out.inference_delay_steps == 3 and out.episode_start
    np.testing.assert_array_equal(out.state, msg.state)
    assert out.prefix_robot is None and out.prefix_model.shape == (2, 3)
    # JPEG: a pure red image stays red (a silent BGR swap would make it blue)
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    jpeg = codec.decode_observation(codec.encode_observation(ObservationMsg(images={"c": red}, jpeg_quality=95)))
    px = jpeg.images["c"].astype(int).mean(axis=(0, 1))
    assert px[0] > 240 and px[1] < 15 and px[2] < 15


def test_chunk_and_control_messages_round_trip() -> None:
    chunk = ActionChunkMsg(seq_id_echo=5, client_mono_ns_echo=123, episode_id_echo=2,
                           chunk_model=np.ones((4, 3), np.float32), chunk_robot=np.full((4, 3), 2.0, np.float32),
                           inference_ms=1.5, superseded_seqs=1, server_load=0.4)
    out = codec.decode_action_chunk(codec.encode_action_chunk(chunk))
    assert out.seq_id_echo == 5 and out.superseded_seqs == 1 and out.server_load == pytest.approx(0.4)
    np.testing.assert_array_equal(out.chunk_robot, chunk.chunk_robot)
    msg = SessionOpenMsg(client_uuid="r1", fps=30.0, action_names=["a", "b"], state_dim=6, tags={"site": "lab"})
    assert codec.decode_session_open(codec.encode_session_open(msg)) == msg
    assert codec.decode_status(codec.encode_status(StatusMsg(max_sessions=3))).max_sessions == 3
    # additive evolution: unknown keys are ignored, missing keys take defaults
    extra = msgpack.packb({"client_uuid": "x", "future_field": [1, 2]})
    assert codec.decode_session_open(extra).client_uuid == "x"
    with pytest.raises(ValueError, match="state_dim"):
        codec.decode_session_open(msgpack.packb({"state_dim": "six"}))
    assert codec.peek_op(codec.encode_session_open(msg)) == "open"


def test_key_expressions() -> None:
    p = service_prefix("user/my policy", "", "pick up the cube!")
    assert p == "@lerobot/user-my-policy/main/pick-up-the-cube"
    assert client_uuid_from_key(obs_key(p, "robot_7")) == "robot_7"
    assert service_prefix("m", "v1", "") == "@lerobot/m/v1/default"
    with pytest.raises(ValueError, match="reserved"):
        sanitize_key_segment("status")
    with pytest.raises(ValueError, match="empty"):
        sanitize_key_segment("///")


DECODERS = [codec.decode_observation, codec.decode_action_chunk, codec.decode_session_open, codec.decode_status,
            codec.decode_session_ack, codec.decode_reset, codec.decode_reset_ack, codec.peek_op]

msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.binary(max_size=16),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=64))
def test_decoders_fuzz_random_bytes(data: bytes) -> None:
    for decode in DECODERS:
        with contextlib.suppress(ValueError):
            decode(data)
    with contextlib.suppress(ValueError):
        MsgHeader.unpack(data)


@settings(max_examples=150, deadline=None)
@given(obj=st.dictionaries(st.sampled_from(["state", "images", "task", "chunk_model", "chunk_robot", "prefix_model",
                                            "seq_id_echo", "op", "client_uuid", "episode_id", "action_names",
                                            "dtype", "shape", "data", "codec"]), msgpack_values, max_size=6))
def test_decoders_fuzz_structured_maps(obj: dict) -> None:
    data = msgpack.packb(obj, use_bin_type=True)
    for decode in DECODERS:
        with contextlib.suppress(ValueError):
            decode(data)


@settings(max_examples=100, deadline=None)
@given(dtype=st.sampled_from(["<f4", "<f8", "<i8", "|u1", "|b1", "<c8", "|O", "<U4", "V8"]),
       shape=st.lists(st.integers(-2, 5), max_size=4), data=st.binary(max_size=64))
def test_tensor_decoder_fuzz(dtype: str, shape: list[int], data: bytes) -> None:
    try:
        arr = codec.decode_tensor({"dtype": dtype, "shape": shape, "data": data})
    except ValueError:
        return
    assert arr.dtype.kind in "biuf" and list(arr.shape) == shape
