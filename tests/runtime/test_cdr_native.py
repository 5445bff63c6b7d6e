"""The compiled CDR codec (``lerobot_ros.runtime.native``) against rosbags' generated one: the same bytes and the
same objects for every type of the Jazzy and Humble stores, the same rejections of malformed input, field-named
serialize errors, the rosbags fallback (env switch, failing compiler) and no reference leaks."""

from __future__ import annotations

import gc
import logging
import math
import random
import struct
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from lerobot_ros.runtime import msgs, native
from rosbags.serde.utils import ndtype
from rosbags.typesys.base import Nodetype

LIMITS = {"int8": (-128, 127), "byte": (-128, 127), "char": (0, 255), "uint8": (0, 255),
          "int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-2**31, 2**31 - 1),
          "uint32": (0, 2**32 - 1), "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1)}
TEXT = "aZ09 _/éß漢字🙂\x01"
CUSTOM = {  # every field kind rosbags supports, in layouts that exercise its alignment rules
    "cdr_test/msg/Mixed": "uint8 a\nfloat64 b\nuint8 c\n",
    "cdr_test/msg/Everything": (
        "bool b\nbyte y\nchar c\nint8 i8\nuint8 u8\nint16 i16\nuint16 u16\nint32 i32\nuint32 u32\nint64 i64\n"
        "uint64 u64\nfloat32 f32\nfloat64 f64\nstring s\nstring<=5 bounded\n"
        "string[3] fixed_strings\nstring<=4[<=3] bounded_strings\nstring[] strings\n"
        "uint8 pad1\nMixed[2] fixed_mixed\nuint8 pad2\nMixed[] mixed\nMixed single\n"
        "byte[2] fixed_bytes\nchar[3] fixed_chars\nbool[3] fixed_bools\nint16[<=4] bounded_int16\n"
        "uint8 pad3\nfloat64[2] fixed_f64\nuint8 pad4\nfloat64[] f64s\nfloat32[] f32s\nint64[] i64s\n"
        "uint64[] u64s\nbool[] bools\nbyte[] bytes_\ngeometry_msgs/Point[] points\nint32 from\nstring class\n"
        "int8 CONSTANT=-3\nstring GREETING=\"hi\"\n"
    ),
}


@pytest.fixture(autouse=True)
def _fresh_native() -> Iterator[None]:
    """Tests that rebuild the module under another environment must not leak it into the next test."""
    yield
    native._reset()


def _scalar(rng: random.Random, base: str) -> Any:
    if base == "bool":
        return rng.random() < 0.5
    if base == "string":
        return "".join(rng.choice(TEXT) for _ in range(rng.choice([0, 1, 3, 9])))
    if base == "float32":
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 3.4e38, -1.2e-38, 1e-45, rng.uniform(-1e6, 1e6)])
    if base == "float64":
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 1.7e308, 5e-324, rng.uniform(-1e300, 1e300)])
    lo, hi = LIMITS[base]
    return rng.choice([lo, hi, 0, rng.randint(lo, hi)])


def _value(rng: random.Random, desc: Any, store: Any) -> Any:
    kind = desc[0]
    if kind == Nodetype.NAME:
        return random_message(rng, desc[1], store)
    if kind == Nodetype.BASE:
        return _scalar(rng, desc[1][0])
    inner, count = desc[1]
    n = count if kind == Nodetype.ARRAY else rng.choice([0, 0, 1, 2, 5])
    if inner[0] == Nodetype.BASE and inner[1][0] != "string":
        return np.array([_scalar(rng, inner[1][0]) for _ in range(n)], dtype=ndtype(inner[1][0]))
    return [_value(rng, inner, store) for _ in range(n)]


def random_message(rng: random.Random, typename: str, store: Any) -> Any:
    msgdef = store.get_msgdef(typename)
    return msgdef.cls(*[_value(rng, desc, store) for _, desc in msgdef.fields])


def same(a: Any, b: Any) -> bool:
    """Deep equality: classes, instance attributes in order, dtypes, shapes, writeability and exact bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
                and a.flags.writeable == b.flags.writeable)
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return list(vars(a)) == list(vars(b)) and all(same(vars(a)[k], vars(b)[k]) for k in vars(a))
    return a == b


def rosbags_codec(typename: str, store: Any, monkeypatch: pytest.MonkeyPatch) -> msgs.Codec:
    with monkeypatch.context() as m:
        m.setenv(native.ENV_SWITCH, "0")
        codec = msgs.Codec(typename, store)
    assert not codec.native
    return codec


def outcome(codec: msgs.Codec, data: bytes) -> Any:
    """The message, or the ValueError class (any other exception fails the test)."""
    try:
        return codec.deserialize(data)
    except ValueError:
        return ValueError


def check_types(store: Any, typenames: list[str], distro: str, seeds: int) -> None:
    for typename in typenames:
        codec = msgs.codec(typename, distro)
        assert codec.native, typename
        for seed in range(seeds):
            msg = random_message(random.Random(f"{typename}/{seed}"), typename, store)
            expected = bytes(store.serialize_cdr(msg, typename))
            data = codec.serialize(msg)
            assert data == expected, (typename, seed)
            assert same(codec.deserialize(data), store.deserialize_cdr(expected, typename)), (typename, seed)


def test_extension_builds_and_loads(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiles into an empty cache; fails (not skips) where there is no compiler or no Python headers."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native._reset()
    module = native.load(strict=True)
    assert module is not None and module.__name__ == "lerobot_ros.runtime.native._cdr"
    assert native.build().parent == tmp_path / "lerobot_ros" / "native" and native.build().exists()
    assert msgs.Codec("std_msgs/msg/String", msgs.get_typestore()).native


@pytest.mark.parametrize("distro", ["jazzy", "humble"])
def test_every_store_type_matches_rosbags(distro: str) -> None:
    store = msgs.get_typestore(distro)
    typenames = sorted(store.fielddefs)
    assert {"std_srvs/srv/Trigger_Response", "rcl_interfaces/srv/GetParameters_Response",
            "example_interfaces/srv/AddTwoInts_Request", "sensor_msgs/msg/JointState"} <= set(typenames)
    assert len(typenames) > 150
    check_types(store, typenames, distro, seeds=4)


def test_registered_types_with_every_field_kind_match_rosbags() -> None:
    for typename, text in CUSTOM.items():
        msgs.register_msg_text(typename, text)
    for distro in ("jazzy", "humble"):
        store = msgs.get_typestore(distro)
        check_types(store, list(CUSTOM), distro, seeds=40)
    msg = msgs.codec("cdr_test/msg/Everything").deserialize(msgs.codec("cdr_test/msg/Everything").serialize(
        random_message(random.Random(1), "cdr_test/msg/Everything", msgs.get_typestore())))
    assert msg.CONSTANT == -3 and msg.GREETING == "hi" and msg.__msgtype__ == "cdr_test/msg/Everything"
    assert "__msgtype__" in vars(msg)  # rosbags' dataclasses set it (and constants) on the instance


def joint_state(names: list[str] | None = None) -> Any:
    names = names if names is not None else [f"joint{i}" for i in range(6)]
    return msgs.make("sensor_msgs/msg/JointState", header=msgs.make("std_msgs/msg/Header", frame_id="base"),
                     name=names, position=np.linspace(-1, 1, len(names)), velocity=np.arange(len(names), dtype=float),
                     effort=np.full(len(names), math.nan))


def small_messages() -> dict[str, Any]:
    image = msgs.make("sensor_msgs/msg/Image", height=3, width=4, encoding="rgb8", step=12,
                      data=np.arange(36, dtype=np.uint8))
    tf = msgs.make("tf2_msgs/msg/TFMessage", transforms=[
        msgs.make("geometry_msgs/msg/TransformStamped", child_frame_id=f"link{i}",
                  header=msgs.make("std_msgs/msg/Header", frame_id="base")) for i in range(2)])
    diag = msgs.make("diagnostic_msgs/msg/DiagnosticArray", status=[
        msgs.make("diagnostic_msgs/msg/DiagnosticStatus", name="motor", message="ok", hardware_id="hw",
                  values=[msgs.make("diagnostic_msgs/msg/KeyValue", key="t", value="30")])])
    return {"sensor_msgs/msg/JointState": joint_state(), "sensor_msgs/msg/Image": image,
            "tf2_msgs/msg/TFMessage": tf, "diagnostic_msgs/msg/DiagnosticArray": diag}


def test_every_truncation_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    store = msgs.get_typestore()
    for typename, msg in small_messages().items():
        codec, reference = msgs.codec(typename), rosbags_codec(typename, store, monkeypatch)
        data = codec.serialize(msg)
        for end in range(len(data)):
            with pytest.raises(ValueError, match=typename if end >= 4 else "not little-endian CDR"):
                codec.deserialize(data[:end])
            assert outcome(reference, data[:end]) is ValueError


def test_garbage_and_mutations_are_rejected_or_decoded_as_rosbags_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Differential fuzzing: for random and mutated bytes the native codec raises ValueError exactly when rosbags'
    does, and otherwise returns the same message."""
    store, rng = msgs.get_typestore(), random.Random(7)
    decoded = 0
    for typename, msg in small_messages().items():
        codec, reference = msgs.codec(typename), rosbags_codec(typename, store, monkeypatch)
        valid = codec.serialize(msg)
        for i in range(600):
            if i % 3 == 0:
                data = b"\x00\x01\x00\x00" + rng.randbytes(rng.randrange(0, 120))
            else:
                data = bytearray(valid)
                for _ in range(rng.randint(1, 4)):
                    at = rng.randrange(4, len(data))
                    data[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
                data = bytes(data)
            got, expected = outcome(codec, data), outcome(reference, data)
            assert (got is ValueError) == (expected is ValueError), (typename, data.hex())
            if got is not ValueError:
                decoded += 1
                assert same(got, expected), (typename, data.hex())
    assert decoded > 100  # the mutations also produced valid messages, compared field by field


@pytest.mark.parametrize("offset,value", [(24, 0xFFFFFFFF), (24, 0x7FFFFFF0), (28, 0xFFFFFFFF), (12, 0xFFFFFFFF),
                                          (12, 0)])
def test_huge_length_claims_fail_before_allocating(offset: int, value: int) -> None:
    """JointState: offset 12 is the frame id's length, 24 the name count, 28 the first name's length."""
    data = bytearray(msgs.codec("sensor_msgs/msg/JointState").serialize(joint_state()))
    assert data[24:28] == struct.pack("<I", 6) and data[12:16] == struct.pack("<I", 5)
    struct.pack_into("<I", data, offset, value)
    with pytest.raises(ValueError, match=r"sensor_msgs/msg/JointState: .*(invalid|do not fit)"):
        msgs.codec("sensor_msgs/msg/JointState").deserialize(bytes(data))


def test_image_sequence_length_claim_past_the_end() -> None:
    codec = msgs.codec("sensor_msgs/msg/Image")
    data = bytearray(codec.serialize(small_messages()["sensor_msgs/msg/Image"]))
    struct.pack_into("<I", data, len(data) - 36 - 4, 37)  # one byte more than there is
    with pytest.raises(ValueError, match=r"sensor_msgs/msg/Image.data"):
        codec.deserialize(bytes(data))


def test_header_trailing_bytes_and_invalid_utf8() -> None:
    codec = msgs.codec("std_msgs/msg/String")
    data = codec.serialize(msgs.make("std_msgs/msg/String", data="héllo"))
    with pytest.raises(ValueError, match="not little-endian CDR for std_msgs/msg/String: header 01010000"):
        codec.deserialize(b"\x01" + data[1:])
    with pytest.raises(ValueError, match="header missing"):
        codec.deserialize(b"")
    assert codec.deserialize(data + b"\x00\x00\x00").data == "héllo"  # padding to 4 is allowed
    with pytest.raises(ValueError, match="bytes are too many for std_msgs/msg/String"):
        codec.deserialize(data + bytes(8))
    bad = data.replace("é".encode(), b"\xff\xfe")
    with pytest.raises(ValueError, match=r"std_msgs/msg/String.data: invalid UTF-8"):
        codec.deserialize(bad)
    with pytest.raises(ValueError, match="missing string terminator"):
        codec.deserialize(data[:-1] + b"x")


def test_deserialized_arrays_are_views_like_rosbags(monkeypatch: pytest.MonkeyPatch) -> None:
    image = msgs.make("sensor_msgs/msg/Image", height=2, width=2, encoding="mono8", step=2,
                      data=np.arange(4, dtype=np.uint8))
    codec = msgs.codec("sensor_msgs/msg/Image")
    reference = rosbags_codec("sensor_msgs/msg/Image", msgs.get_typestore(), monkeypatch)
    data = codec.serialize(image)
    msg = codec.deserialize(data)
    assert not msg.data.flags.writeable and np.shares_memory(msg.data, np.frombuffer(data, np.uint8))
    for buffer in (bytearray(data), memoryview(data), memoryview(bytearray(data))):
        got, expected = codec.deserialize(buffer), reference.deserialize(buffer)
        assert same(got, expected)  # a writable buffer gives writable views, as rosbags' frombuffer does
    del data
    gc.collect()
    assert msg.data.tolist() == [0, 1, 2, 3]  # the view keeps its bytes alive


def test_repeated_strings_are_decoded_every_time() -> None:
    """The per-field cache of short ASCII strings never returns a stale value."""
    codec = msgs.codec("sensor_msgs/msg/JointState")
    for names in (["a", "b"], ["a", "c"], ["ab"], ["é", "b"], ["x" * 80, "b"], [], ["a", "b", "c"]):
        assert codec.deserialize(codec.serialize(joint_state(names))).name == names


def test_lists_and_other_arrays_serialize_their_values() -> None:
    """Lists, strided, byte-swapped and other-dtype arrays give the bytes of the field's own dtype holding the
    same values (rosbags writes an array's raw bytes instead, so an int64 array in a float64 field would be
    sent as bit patterns); a cast numpy's same_kind casting refuses is a TypeError naming the field."""
    codec, store = msgs.codec("sensor_msgs/msg/JointState"), msgs.get_typestore()
    msg = joint_state(["a", "b", "c"])
    expected = codec.serialize(msg)
    assert expected == bytes(store.serialize_cdr(msg, "sensor_msgs/msg/JointState"))
    values = msg.position.copy(), msg.velocity.copy(), msg.effort.copy()
    for position, velocity, effort in (
        (values[0].tolist(), tuple(values[1].tolist()), values[2]),  # lists and tuples
        (values[0].astype(">f8"), np.repeat(values[1], 2)[::2], values[2].astype(np.float32).astype(np.float64)),
    ):
        msg.position, msg.velocity, msg.effort = position, velocity, effort
        assert codec.serialize(msg) == expected
    msg.position = np.arange(3, dtype=np.int64)  # integers in a float64 field: their values, not their bits
    assert codec.deserialize(codec.serialize(msg)).position.tolist() == [0.0, 1.0, 2.0]
    image = small_messages()["sensor_msgs/msg/Image"]
    reference = codec_bytes(image)
    for data in (np.repeat(image.data, 2)[::2], image.data.tolist()):
        image.data = data
        assert codec_bytes(image) == reference
    image.data = np.arange(36) % 3 == 0  # bool -> uint8 is a safe cast: 0 and 1
    assert msgs.codec("sensor_msgs/msg/Image").deserialize(codec_bytes(image)).data.tolist() == [
        int(i % 3 == 0) for i in range(36)]
    for data in (np.ones(36), np.arange(36, dtype=np.int16)):  # float or signed -> uint8: not same_kind casts
        image.data = data
        with pytest.raises(TypeError, match=rf"Image\.data: expected uint8 values, got an array of dtype {data.dtype}"):
            codec_bytes(image)


def codec_bytes(msg: Any) -> bytes:
    return msgs.codec(msg.__msgtype__).serialize(msg)


@pytest.mark.parametrize("field,value,error,match", [
    ("position", "abc", TypeError, "sensor_msgs/msg/JointState.position: expected a numpy array"),
    ("position", np.zeros((3, 1)), ValueError, "sensor_msgs/msg/JointState.position: expected a 1-d array"),
    ("position", np.zeros(3, dtype=object), TypeError, "sensor_msgs/msg/JointState.position: expected float64"),
    ("position", [1.0, "x", 2.0], TypeError, "sensor_msgs/msg/JointState.position: expected a float"),
    ("name", ["a", 1, "b"], TypeError, "sensor_msgs/msg/JointState.name: expected a str, got int"),
    ("name", ["\ud800", "a", "b"], ValueError, "sensor_msgs/msg/JointState.name: not encodable as UTF-8"),
    ("name", 5, TypeError, "sensor_msgs/msg/JointState.name: expected a list of str"),
    ("header", object(), TypeError, "std_msgs/msg/Header.stamp: missing"),
    ("header.frame_id", b"base", TypeError, "std_msgs/msg/Header.frame_id: expected a str, got bytes"),
    ("header.stamp.sec", "1", TypeError, "builtin_interfaces/msg/Time.sec: expected an int"),
    ("header.stamp.sec", 1.5, TypeError, "builtin_interfaces/msg/Time.sec: expected an int"),
    ("header.stamp.sec", 2**31, ValueError, "builtin_interfaces/msg/Time.sec: 2147483648 is out of range for int32"),
    ("header.stamp.nanosec", -1, ValueError, "builtin_interfaces/msg/Time.nanosec: -1 is out of range for uint32"),
])
def test_serialize_errors_name_the_field(field: str, value: Any, error: type, match: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    msg = joint_state(["a", "b", "c"])
    *path, last = field.split(".")
    target = msg
    for part in path:
        target = getattr(target, part)
    setattr(target, last, value)
    with pytest.raises(error, match=match):
        msgs.codec("sensor_msgs/msg/JointState").serialize(msg)
    with pytest.raises(Exception):  # noqa: B017 - rosbags rejects it too (struct.error, AttributeError, ...)
        rosbags_codec("sensor_msgs/msg/JointState", msgs.get_typestore(), monkeypatch).serialize(msg)


def test_fixed_array_length_and_scalar_range_errors() -> None:
    imu = msgs.make("sensor_msgs/msg/Imu")
    imu.orientation_covariance = np.zeros(8)
    with pytest.raises(ValueError, match=r"sensor_msgs/msg/Imu.orientation_covariance: expected 9 elements, got 8"):
        codec_bytes(imu)
    imu.orientation_covariance = [0.0] * 10
    with pytest.raises(ValueError, match="expected 9 elements, got 10"):
        codec_bytes(imu)
    info = msgs.make("sensor_msgs/msg/CameraInfo")
    expected = codec_bytes(info)
    info.k = np.zeros(9, dtype=np.float32)  # float32 values in a float64[9]: cast (rosbags rejects the size)
    assert codec_bytes(info) == expected
    info.k = np.zeros(9, dtype=np.complex128)  # complex -> float64 is not a same_kind cast
    with pytest.raises(TypeError, match="sensor_msgs/msg/CameraInfo.k: expected float64 values"):
        codec_bytes(info)
    rng = msgs.make("sensor_msgs/msg/Range", range=1e39)
    with pytest.raises(ValueError, match=r"sensor_msgs/msg/Range.range: .* out of range for float32"):
        codec_bytes(rng)
    rng.range = math.inf
    assert math.isinf(msgs.codec("sensor_msgs/msg/Range").deserialize(codec_bytes(rng)).range)
    msg = msgs.make("std_msgs/msg/UInt64", data=2**64 - 1)
    assert msgs.codec("std_msgs/msg/UInt64").deserialize(codec_bytes(msg)).data == 2**64 - 1
    for bad in (2**64, -1):
        msg.data = bad
        with pytest.raises(ValueError, match="std_msgs/msg/UInt64.data: .* out of range for uint64"):
            codec_bytes(msg)
    msg = msgs.make("std_msgs/msg/Byte", data=-128)  # rosbags packs byte as a signed char
    assert msgs.codec("std_msgs/msg/Byte").deserialize(codec_bytes(msg)).data == -128
    msg.data = 200
    with pytest.raises(ValueError, match="out of range for byte"):
        codec_bytes(msg)


def test_env_switch_selects_rosbags_with_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    store = msgs.get_typestore()
    for typename, msg in small_messages().items():
        fast, slow = msgs.Codec(typename, store), rosbags_codec(typename, store, monkeypatch)
        assert fast.native and not slow.native
        data = fast.serialize(msg)
        assert bytes(slow.serialize(msg)) == data
        assert same(fast.deserialize(data), slow.deserialize(data))


def test_failing_compiler_warns_once_and_uses_rosbags(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    store = msgs.get_typestore()
    expected = {t: msgs.codec(t).serialize(m) for t, m in small_messages().items()}
    monkeypatch.setenv("CC", "false")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native._reset()
    with caplog.at_level(logging.WARNING, logger=native.__name__):
        for typename, msg in small_messages().items():
            codec = msgs.Codec(typename, store)
            assert not codec.native
            data = bytes(codec.serialize(msg))
            assert data == expected[typename]
            assert same(codec.deserialize(data), msgs.codec(typename).deserialize(data))
    warnings = [r for r in caplog.records if r.name == native.__name__]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "apt-get install gcc python3-dev" in warnings[0].getMessage()
    assert "false" in warnings[0].getMessage()  # the cause: the compiler that failed
    with pytest.raises(native.NativeBuildError):
        native.load(strict=True)


def test_threads_share_codecs() -> None:
    messages = small_messages()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(300):
                for typename, msg in messages.items():
                    codec = msgs.codec(typename)
                    assert same(codec.deserialize(codec.serialize(msg)), codec.deserialize(codec.serialize(msg)))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_no_reference_leaks() -> None:
    messages = small_messages()
    codecs = {t: msgs.codec(t) for t in messages}
    data = {t: codecs[t].serialize(m) for t, m in messages.items()}
    bad_js = joint_state(["a", "b"])
    bad_js.header.stamp.sec = "x"
    garbage = data["sensor_msgs/msg/JointState"][:30]

    def rounds(n: int) -> None:
        for _ in range(n):
            for t, m in messages.items():
                codecs[t].deserialize(codecs[t].serialize(m))
                codecs[t].deserialize(data[t])
            for call, arg in ((codecs["sensor_msgs/msg/JointState"].serialize, bad_js),
                              (codecs["sensor_msgs/msg/JointState"].deserialize, garbage)):
                with pytest.raises((TypeError, ValueError)):
                    call(arg)

    classes = [msgs.msg_class(t) for t in ("sensor_msgs/msg/JointState", "std_msgs/msg/Header",
                                           "builtin_interfaces/msg/Time", "geometry_msgs/msg/TransformStamped")]
    received = codecs["sensor_msgs/msg/JointState"].deserialize(data["sensor_msgs/msg/JointState"])
    watched = [*classes, *data.values(), np.dtype(np.float64), np.dtype(np.uint8), "position", "frame_id", "sec",
               "base", received.name[0], received.header.frame_id]  # the last two: cached strings
    for msg in [*messages.values(), messages["sensor_msgs/msg/JointState"].header]:  # what serialize reads
        watched += [msg, *(v for v in vars(msg).values() if isinstance(v, (np.ndarray, list, str)) or
                           hasattr(v, "__dataclass_fields__"))]  # not small ints/floats: shared, in use elsewhere
    rounds(50)
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    tracemalloc.start()
    try:
        rounds(100)
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        rounds(1000)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(o) for o in watched] == before
    assert growth < 64 * 1024, growth
