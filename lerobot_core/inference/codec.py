"""msgpack codecs for the remote-inference messages. No pickle: arrays travel as
``{"dtype": "<f4", "shape": [...], "data": bytes}`` (little-endian, numeric dtypes only) and images as raw
pixels or JPEG. Every decoder raises :class:`ValueError` on malformed input (never anything else)."""

from __future__ import annotations

import io
from dataclasses import fields
from typing import Any, TypeVar

import msgpack
import numpy as np

from lerobot_core.inference.schema import (
    ActionChunkMsg,
    ObservationMsg,
    ResetAckMsg,
    ResetMsg,
    SessionAckMsg,
    SessionCloseMsg,
    SessionOpenMsg,
    StatusMsg,
)

IMAGE_CODEC_JPEG = "jpeg"
IMAGE_CODEC_RAW = "raw"
_ALLOWED_KINDS = set("biuf")  # bool, signed, unsigned, float
MAX_ELEMENTS = 1 << 28

T = TypeVar("T")


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several types (ExtraData, FormatError, ValueError, ...)
        raise ValueError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None


def _map(data: bytes, what: str) -> dict[str, Any]:
    obj = unpackb(data)
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: expected a msgpack map, got {type(obj).__name__}")
    return obj


# -- tensors ----------------------------------------------------------------------------------------------
def encode_tensor(arr: np.ndarray) -> dict[str, Any]:
    arr = np.asarray(arr)
    shape = list(arr.shape)  # before ascontiguousarray (which turns 0-d into 1-d)
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise ValueError(f"cannot encode dtype {arr.dtype}: numeric arrays only")
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return {"dtype": little.dtype.str, "shape": shape, "data": np.ascontiguousarray(little).tobytes()}


def decode_tensor(obj: Any) -> np.ndarray:
    if not isinstance(obj, dict):
        raise ValueError(f"tensor: expected a map, got {type(obj).__name__}")
    try:
        dtype = np.dtype(str(obj["dtype"]))
        shape = [int(s) for s in obj["shape"]]
        data = obj["data"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"tensor: bad dtype/shape/data ({exc})") from None
    if dtype.hasobject or dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
        raise ValueError(f"tensor: dtype {dtype} is not allowed (numeric only)")
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError("tensor: data must be bytes")
    if any(s < 0 for s in shape) or len(shape) > 8:
        raise ValueError(f"tensor: bad shape {shape}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count > MAX_ELEMENTS or count * dtype.itemsize != len(data):
        raise ValueError(f"tensor: {len(data)} bytes do not hold shape {shape} of {dtype}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _opt_tensor(obj: Any) -> np.ndarray | None:
    return None if obj is None else decode_tensor(obj)


# -- images -----------------------------------------------------------------------------------------------
def encode_image(img: np.ndarray, jpeg_quality: int = 90) -> dict[str, Any]:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image: expected uint8 (H, W, 3) RGB, got {img.dtype} {img.shape}")
    if jpeg_quality <= 0:
        return {"codec": IMAGE_CODEC_RAW, "shape": list(img.shape), "data": np.ascontiguousarray(img).tobytes()}
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img), "RGB").save(buf, format="JPEG", quality=int(min(jpeg_quality, 100)))
    return {"codec": IMAGE_CODEC_JPEG, "data": buf.getvalue()}


def decode_image(obj: Any) -> np.ndarray:
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), (bytes, bytearray)):
        raise ValueError("image: expected a map with bytes 'data'")
    codec = obj.get("codec", IMAGE_CODEC_JPEG)
    if codec == IMAGE_CODEC_RAW:
        try:
            shape = [int(s) for s in obj["shape"]]
        except (KeyError, TypeError, ValueError):
            raise ValueError("image: raw image without a valid shape") from None
        if len(shape) != 3 or shape[2] != 3 or min(shape) <= 0 or shape[0] * shape[1] * 3 != len(obj["data"]):
            raise ValueError(f"image: raw shape {shape} does not match {len(obj['data'])} bytes")
        return np.frombuffer(obj["data"], np.uint8).reshape(shape).copy()
    if codec == IMAGE_CODEC_JPEG:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(obj["data"])) as im:
                if im.format != "JPEG":
                    raise ValueError(f"not a JPEG ({im.format})")
                return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
        except Exception as exc:
            raise ValueError(f"image: undecodable JPEG ({exc})") from None
    raise ValueError(f"image: unknown codec {codec!r} (expected 'jpeg' or 'raw')")


# -- data plane -------------------------------------------------------------------------------------------
def encode_observation(msg: ObservationMsg) -> bytes:
    return packb({
        "state": None if msg.state is None else encode_tensor(np.asarray(msg.state, np.float32)),
        "images": {name: encode_image(img, msg.jpeg_quality) for name, img in msg.images.items()},
        "task": msg.task,
        "inference_delay_steps": int(msg.inference_delay_steps),
        "prefix_model": None if msg.prefix_model is None else encode_tensor(np.asarray(msg.prefix_model, np.float32)),
        "prefix_robot": None if msg.prefix_robot is None else encode_tensor(np.asarray(msg.prefix_robot, np.float32)),
        "episode_start": bool(msg.episode_start),
    })


def decode_observation(data: bytes) -> ObservationMsg:
    obj = _map(data, "observation")
    images = obj.get("images") or {}
    if not isinstance(images, dict):
        raise ValueError("observation: 'images' must be a map")
    task = obj.get("task", "")
    delay = obj.get("inference_delay_steps", 0)
    if not isinstance(task, str) or not isinstance(delay, int) or isinstance(delay, bool):
        raise ValueError("observation: 'task' must be a string and 'inference_delay_steps' an integer")
    return ObservationMsg(
        state=_opt_tensor(obj.get("state")),
        images={str(k): decode_image(v) for k, v in images.items()},
        task=task, inference_delay_steps=delay,
        prefix_model=_opt_tensor(obj.get("prefix_model")), prefix_robot=_opt_tensor(obj.get("prefix_robot")),
        episode_start=bool(obj.get("episode_start", False)), jpeg_quality=0)


def encode_action_chunk(msg: ActionChunkMsg) -> bytes:
    return packb({
        "seq_id_echo": int(msg.seq_id_echo), "client_mono_ns_echo": int(msg.client_mono_ns_echo),
        "episode_id_echo": int(msg.episode_id_echo),
        "chunk_model": encode_tensor(np.asarray(msg.chunk_model, np.float32)),
        "chunk_robot": encode_tensor(np.asarray(msg.chunk_robot, np.float32)),
        "queue_wait_ms": float(msg.queue_wait_ms), "inference_ms": float(msg.inference_ms),
        "superseded_seqs": int(msg.superseded_seqs), "server_load": float(msg.server_load),
    })


def decode_action_chunk(data: bytes) -> ActionChunkMsg:
    obj = _map(data, "action chunk")
    try:
        return ActionChunkMsg(
            seq_id_echo=int(obj.get("seq_id_echo", 0)), client_mono_ns_echo=int(obj.get("client_mono_ns_echo", 0)),
            episode_id_echo=int(obj.get("episode_id_echo", 0)),
            chunk_model=decode_tensor(obj.get("chunk_model")), chunk_robot=decode_tensor(obj.get("chunk_robot")),
            queue_wait_ms=float(obj.get("queue_wait_ms", 0.0)), inference_ms=float(obj.get("inference_ms", 0.0)),
            superseded_seqs=int(obj.get("superseded_seqs", 0)), server_load=float(obj.get("server_load", 0.0)))
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"action chunk: bad field ({exc})") from None


# -- control plane (flat dataclasses) ---------------------------------------------------------------------
def _encode_flat(msg: Any) -> bytes:
    return packb({f.name: getattr(msg, f.name) for f in fields(msg)})


def _decode_flat(cls: type[T], data: bytes) -> T:
    obj = _map(data, cls.__name__)
    defaults = cls()
    kwargs = {}
    for f in fields(cls):
        if f.name not in obj:
            continue
        value, default = obj[f.name], getattr(defaults, f.name)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, list):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif isinstance(default, dict):
            ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        else:
            ok = True
        if not ok:
            raise ValueError(f"{cls.__name__}: field {f.name!r} has type {type(value).__name__}, "
                             f"expected {type(default).__name__}")
        kwargs[f.name] = value
    return cls(**kwargs)


def peek_op(data: bytes) -> str:
    """The ``op`` of a session query (``"open"`` when absent)."""
    op = _map(data, "session query").get("op", "open")
    if not isinstance(op, str):
        raise ValueError("session query: 'op' must be a string")
    return op


encode_session_open = _encode_flat
encode_session_ack = _encode_flat
encode_status = _encode_flat
encode_reset = _encode_flat
encode_reset_ack = _encode_flat
encode_session_close = _encode_flat


def decode_session_open(data: bytes) -> SessionOpenMsg:
    return _decode_flat(SessionOpenMsg, data)


def decode_session_ack(data: bytes) -> SessionAckMsg:
    return _decode_flat(SessionAckMsg, data)


def decode_status(data: bytes) -> StatusMsg:
    return _decode_flat(StatusMsg, data)


def decode_reset(data: bytes) -> ResetMsg:
    return _decode_flat(ResetMsg, data)


def decode_reset_ack(data: bytes) -> ResetAckMsg:
    return _decode_flat(ResetAckMsg, data)


def decode_session_close(data: bytes) -> SessionCloseMsg:
    return _decode_flat(SessionCloseMsg, data)
