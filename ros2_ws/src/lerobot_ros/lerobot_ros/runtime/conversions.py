"""Message ⇄ numpy conversions without ROS: the role of cv_bridge, plus JointState and stamps.

Images follow cv_bridge (``CvBridge.imgmsg_to_cv2`` / ``cv2_to_imgmsg`` / ``compressed_imgmsg_to_cv2`` /
``cv2_to_compressed_imgmsg``) exactly:

- ``image_to_numpy(msg)`` = ``imgmsg_to_cv2(msg, "passthrough")``: channels stay in the message's order
  (``bgr8`` stays BGR, ``rgb8`` stays RGB), one-channel encodings give a 2-D ``(height, width)`` array, several
  channels ``(height, width, channels)``; row padding (``step`` > width × pixel size) is dropped; big-endian data
  (``is_bigendian``) is byte-swapped to a native-order array. The result is a C-contiguous copy.
- ``image_to_numpy(msg, desired_encoding)`` converts like cv_bridge's ``cvtColor2``: channel reorders and
  alpha add/drop between rgb/bgr/rgba/bgra, colour ⇄ mono via OpenCV's ``cvtColor`` (needs ``opencv-python``),
  then 8 ⇄ 16 bit depth changes scaled by 65535/255 (other depth changes unscaled; rounded half to even and
  saturated, as ``convertTo``). As in cv_bridge, a non-colour source (``16UC1``, ``32FC1``) converts only to a
  non-colour encoding with the same channel count, and a colour source to a non-colour one only when the
  channel count is kept. One deliberate difference: a ``step`` that is not a multiple of the pixel size is
  honoured here (cv_bridge would mis-stride such rows).
- ``numpy_to_image(arr, encoding)`` = ``cv2_to_imgmsg``: the array's dtype and channel count must match the
  encoding (``"passthrough"`` writes the OpenCV type name such as ``8UC3``), ``step = width × pixel size``
  (no padding), ``is_bigendian`` only for an explicitly big-endian dtype.
- Compressed images: decoding returns what ``cv2.imdecode(..., IMREAD_UNCHANGED)`` does (BGR/BGRA for colour,
  2-D for grey, uint16 for 16-bit PNG); encoding takes a BGR array (cv_bridge's convention; pass
  ``encoding="rgb8"`` for RGB input) and writes ``format`` verbatim. OpenCV is used when importable, otherwise
  Pillow (same pixels for PNG; JPEG decoders may differ by ±1 or so).

Joint states: ``joint_state_to_dict(msg) -> {name: JointSample(position, velocity, effort)}`` in message order,
with NaN for a field the message leaves empty. Stamps: ``builtin_interfaces/Time`` ⇄ float seconds or int ns.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from .msgs import msg_class

__all__ = [
    "JointSample",
    "compressed_image_to_numpy",
    "dict_to_joint_state",
    "image_to_numpy",
    "joint_state_to_dict",
    "ns_to_stamp",
    "numpy_to_compressed_image",
    "numpy_to_image",
    "sec_to_stamp",
    "stamp_to_ns",
    "stamp_to_sec",
]

# encoding -> (numpy dtype, channels). Named encodings of sensor_msgs/image_encodings.hpp plus OpenCV types.
_NAMED = {
    "rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4), "mono8": ("u1", 1),
    "rgb16": ("u2", 3), "bgr16": ("u2", 3), "rgba16": ("u2", 4), "bgra16": ("u2", 4), "mono16": ("u2", 1),
}  # fmt: skip
_DEPTHS = {"8U": "u1", "8S": "i1", "16U": "u2", "16S": "i2", "32S": "i4", "32F": "f4", "64F": "f8"}
_CV_NAME = {np.dtype(v).str[1:]: k for k, v in _DEPTHS.items()}  # "u1" -> "8U"
_COLOR = {"rgb", "bgr", "rgba", "bgra", "mono"}


def _encoding_info(encoding: str) -> tuple[np.dtype, int]:
    if encoding in _NAMED:
        kind, channels = _NAMED[encoding]
        return np.dtype(kind), channels
    depth, _, count = encoding.partition("C")
    if depth in _DEPTHS and count.isdigit() and 1 <= int(count) <= 4:  # 8UC3, 16UC1, 32FC1, ...
        return np.dtype(_DEPTHS[depth]), int(count)
    raise ValueError(
        f"unsupported image encoding {encoding!r}: use one of {sorted(_NAMED)} or an OpenCV type such as 8UC3, "
        "16UC1, 32FC1"
    )


def _cv_type(dtype: np.dtype, channels: int) -> str:
    key = dtype.str[1:]
    if key not in _CV_NAME:
        raise TypeError(
            f"arrays of dtype {dtype} cannot be an Image (use uint8, int8, uint16, int16, int32, float32 or float64)"
        )
    return f"{_CV_NAME[key]}C{channels}"


def _header(stamp: Any, frame_id: str) -> Any:
    if stamp is None:
        stamp = ns_to_stamp(0)
    elif isinstance(stamp, (int, float)):
        stamp = sec_to_stamp(stamp)
    return msg_class("std_msgs/msg/Header")(stamp=stamp, frame_id=frame_id)


# ---------------------------------------------------------------------------------------------- Image


def image_to_numpy(msg: Any, desired_encoding: str = "passthrough") -> np.ndarray:
    """The pixels of a ``sensor_msgs/Image`` as an array (cv_bridge's ``imgmsg_to_cv2``, see the module docstring)."""
    dtype, channels = _encoding_info(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row = width * channels * dtype.itemsize
    if step < row:
        raise ValueError(
            f"Image step {step} is smaller than width {width} × {channels} channel(s) × {dtype.itemsize} bytes"
        )
    raw = msg.data
    data = (
        np.frombuffer(raw, np.uint8)
        if isinstance(raw, (bytes, bytearray, memoryview))
        else np.asarray(raw, np.uint8)
    )
    data = data.reshape(-1)
    if height and data.size < step * (height - 1) + row:
        raise ValueError(
            f"Image data has {data.size} bytes; {height} rows of step {step} need {step * height}"
        )
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    shape = (height, width, channels)
    strides = (step, channels * dtype.itemsize, dtype.itemsize)
    view = np.ndarray(shape, dtype=wire, buffer=data, strides=strides) if height else np.zeros(shape, wire)
    image = np.ascontiguousarray(view.astype(dtype.newbyteorder("="), copy=True))
    if channels == 1:
        image = image[:, :, 0]
    if desired_encoding in ("passthrough", msg.encoding):
        return image
    return _convert(image, msg.encoding, desired_encoding)


def numpy_to_image(
    arr: np.ndarray,
    encoding: str = "passthrough",
    *,
    stamp: Any = None,
    frame_id: str = "",
    header: Any = None,
) -> Any:
    """A ``sensor_msgs/Image`` holding ``arr`` (cv_bridge's ``cv2_to_imgmsg``, see the module docstring)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"numpy_to_image needs a numpy array, got {type(arr).__name__}")
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"an image array must be (height, width) or (height, width, channels), got shape {arr.shape}"
        )
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    cv_type = _cv_type(arr.dtype, channels)
    if encoding == "passthrough":
        encoding = cv_type
    else:
        dtype, want = _encoding_info(encoding)
        if _cv_type(dtype, want) != cv_type:
            raise ValueError(f"encoding specified as {encoding}, but image has incompatible type {cv_type}")
    data = np.array(arr, order="C", copy=True).reshape(-1).view(np.uint8)  # one copy, C order, writable
    height = arr.shape[0]
    return msg_class("sensor_msgs/msg/Image")(
        header=header if header is not None else _header(stamp, frame_id),
        height=height,
        width=arr.shape[1],
        encoding=encoding,
        is_bigendian=int(
            arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big")
        ),
        step=data.size // height if height else 0,
        data=data,
    )


def _layout(encoding: str) -> tuple[str, int]:
    """(colour family, bit depth) of a named encoding; ('', depth) for OpenCV types."""
    for family in ("rgba", "bgra", "rgb", "bgr", "mono"):
        if encoding.startswith(family) and encoding[len(family) :] in ("8", "16"):
            return family, int(encoding[len(family) :])
    dtype, _ = _encoding_info(encoding)
    return "", dtype.itemsize * 8


def _convert(image: np.ndarray, src: str, dst: str) -> np.ndarray:
    """cv_bridge's ``cvtColor2`` for the encodings above: colour conversion, then 8 ⇄ 16 bit scaling."""
    (sfam, sdepth), (dfam, ddepth) = _layout(src), _layout(dst)
    ddtype, dchannels = _encoding_info(dst)
    if sfam and dfam:
        image = _color(image, sfam, dfam, sdepth)
    elif dfam:  # cv_bridge refuses to invent colour information
        raise ValueError(f"cannot convert {src} to {dst}: [{src}] is not a color format. but [{dst}] is")
    elif image.shape[2:] != ((dchannels,) if dchannels > 1 else ()):
        raise ValueError(
            f"cannot convert {src} to {dst}: [{dst}] is not a color format and the channel counts differ"
        )
    if sdepth == 8 and ddepth == 16:
        return _saturate(image * (65535.0 / 255.0), ddtype)
    if sdepth == 16 and ddepth == 8:
        return _saturate(image * (255.0 / 65535.0), ddtype)
    return image if image.dtype == ddtype else _saturate(image, ddtype)


def _saturate(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def _color(image: np.ndarray, src: str, dst: str, depth: int) -> np.ndarray:
    if src == dst:
        return image
    if "mono" in (src, dst):
        cv2 = _cv2()
        if cv2 is None:
            raise ImportError(
                "converting between colour and mono images needs OpenCV: pip install opencv-python-headless"
            )
        code = {"rgb": "RGB", "bgr": "BGR", "rgba": "RGBA", "bgra": "BGRA"}
        name = f"COLOR_{code[src]}2GRAY" if dst == "mono" else f"COLOR_GRAY2{code[dst]}"
        return np.ascontiguousarray(cv2.cvtColor(image, getattr(cv2, name)))
    rgb = image[..., 2::-1] if src.startswith("bgr") else image[..., :3]  # now in RGB order
    out = rgb[..., ::-1] if dst.startswith("bgr") else rgb
    if dst.endswith("a"):
        alpha = (
            image[..., 3:4]
            if src.endswith("a")
            else np.full((*image.shape[:2], 1), (1 << depth) - 1, image.dtype)
        )
        out = np.concatenate([out, alpha], axis=2)
    return np.ascontiguousarray(out)


# ---------------------------------------------------------------------------------------------- CompressedImage


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def compressed_image_to_numpy(msg: Any, desired_encoding: str = "passthrough") -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (cv_bridge's ``compressed_imgmsg_to_cv2``): BGR(A) or 2-D grey."""
    data = np.frombuffer(bytes(msg.data), np.uint8)
    cv2 = _cv2()
    if cv2 is not None:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"cannot decode CompressedImage (format {msg.format!r}, {data.size} bytes)")
    else:
        image = _pil_decode(data.tobytes(), msg.format)
    if desired_encoding == "passthrough":
        return image
    channels = 1 if image.ndim == 2 else image.shape[2]
    src = {1: "mono", 3: "bgr", 4: "bgra"}[channels] + ("16" if image.dtype == np.uint16 else "8")
    return image if src == desired_encoding else _convert(image, src, desired_encoding)


def numpy_to_compressed_image(
    arr: np.ndarray,
    fmt: str = "jpeg",
    *,
    encoding: str = "bgr8",
    quality: int = 95,
    stamp: Any = None,
    frame_id: str = "",
    header: Any = None,
) -> Any:
    """Encode ``arr`` as a ``sensor_msgs/CompressedImage`` (cv_bridge's ``cv2_to_compressed_imgmsg``).

    ``arr`` is BGR(A) or 2-D grey as in cv_bridge; say ``encoding="rgb8"``/``"rgba8"`` for RGB(A) input.
    ``fmt`` is ``jpeg``/``jpg`` or ``png`` and is written to the message's ``format`` field as given.
    """
    kind = fmt.lower().lstrip(".")
    if kind not in ("jpeg", "jpg", "png"):
        raise ValueError(f"unsupported compressed format {fmt!r}: use 'jpeg' (or 'jpg') or 'png'")
    if arr.ndim == 3 and encoding.startswith("rgb"):
        arr = _color(
            arr, encoding.rstrip("0123456789"), "bgra" if arr.shape[2] == 4 else "bgr", arr.dtype.itemsize * 8
        )
    cv2 = _cv2()
    if cv2 is not None:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if kind in ("jpeg", "jpg") else []
        ok, buf = cv2.imencode("." + kind, arr, params)
        if not ok:
            raise ValueError(f"OpenCV could not encode a {arr.dtype} array of shape {arr.shape} as {kind}")
        payload = buf.tobytes()
    else:
        payload = _pil_encode(arr, kind, quality)
    return msg_class("sensor_msgs/msg/CompressedImage")(
        header=header if header is not None else _header(stamp, frame_id),
        format=fmt,
        data=np.frombuffer(payload, np.uint8).copy(),
    )


def _pil_decode(data: bytes, fmt: str) -> np.ndarray:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I"):
                return np.asarray(im, dtype=np.uint16)
            if mode not in ("L", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
                mode = im.mode
            pixels = np.asarray(im)
    except OSError as exc:
        raise ValueError(
            f"cannot decode CompressedImage (format {fmt!r}, {len(data)} bytes): {exc}"
        ) from None
    if mode == "L":
        return np.ascontiguousarray(pixels)
    return _color(pixels, mode.lower(), "bgra" if mode == "RGBA" else "bgr", 8)


def _pil_encode(arr: np.ndarray, kind: str, quality: int) -> bytes:
    import io

    from PIL import Image

    if arr.ndim == 3:
        arr = _color(arr, "bgra" if arr.shape[2] == 4 else "bgr", "rgba" if arr.shape[2] == 4 else "rgb", 8)
    out = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(arr))
    if kind == "png":
        image.save(out, format="PNG")
    else:
        image.save(out, format="JPEG", quality=int(quality))
    return out.getvalue()


# ---------------------------------------------------------------------------------------------- JointState


class JointSample(NamedTuple):
    position: float
    velocity: float
    effort: float


def joint_state_to_dict(msg: Any) -> dict[str, JointSample]:
    """``{name: JointSample(position, velocity, effort)}`` in the message's joint order; NaN where a field is empty.

    A non-empty ``position``/``velocity``/``effort`` whose length differs from ``name`` is an error naming it.
    """
    names = list(msg.name)
    columns = []
    for field in ("position", "velocity", "effort"):
        values = np.asarray(getattr(msg, field), dtype=np.float64)
        if values.size == 0:
            values = np.full(len(names), np.nan)
        elif values.size != len(names):
            raise ValueError(f"JointState.{field} has {values.size} values for {len(names)} joint names")
        columns.append(values.tolist())
    if len(set(names)) != len(names):
        raise ValueError(f"JointState.name has duplicate joints: {names}")
    return {name: JointSample(*values) for name, *values in zip(names, *columns)}


def dict_to_joint_state(
    joints: Mapping[str, Any], *, stamp: Any = None, frame_id: str = "", header: Any = None
) -> Any:
    """A ``sensor_msgs/JointState`` from ``{name: position}`` or ``{name: (position, velocity, effort)}``.

    Order is the mapping's order. ``velocity``/``effort`` are left empty (as ROS drivers do when they lack them)
    when every joint's value is NaN or none is given.
    """
    names, columns = list(joints), [[], [], []]
    for name, value in joints.items():
        sample = (value, math.nan, math.nan) if isinstance(value, (int, float, np.number)) else tuple(value)
        if len(sample) != 3:
            raise ValueError(
                f"joint {name!r}: expected a position or (position, velocity, effort), got {value!r}"
            )
        for column, v in zip(columns, sample):
            column.append(float(v))
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    arrays[1:] = [a if not np.isnan(a).all() else np.zeros(0) for a in arrays[1:]]
    return msg_class("sensor_msgs/msg/JointState")(
        header=header if header is not None else _header(stamp, frame_id),
        name=names,
        position=arrays[0],
        velocity=arrays[1],
        effort=arrays[2],
    )


# ---------------------------------------------------------------------------------------------- stamps


def stamp_to_ns(stamp: Any) -> int:
    """Integer nanoseconds of a ``builtin_interfaces/Time`` (or anything with ``sec``/``nanosec``)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_to_sec(stamp: Any) -> float:
    """Seconds as a float (``sec + nanosec * 1e-9``)."""
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


def ns_to_stamp(ns: int) -> Any:
    """A ``builtin_interfaces/Time``; ``nanosec`` is always in [0, 1e9) (negative times borrow from ``sec``)."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    if not -(2**31) <= sec < 2**31:
        raise OverflowError(f"{ns} ns is outside builtin_interfaces/Time's int32 seconds")
    return msg_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)


def sec_to_stamp(t: float) -> Any:
    """A ``builtin_interfaces/Time`` for float seconds, rounded to the nearest nanosecond."""
    if not math.isfinite(t):
        raise ValueError(f"cannot make a stamp from {t}")
    whole = math.floor(t)
    return ns_to_stamp(whole * 1_000_000_000 + round((t - whole) * 1e9))
