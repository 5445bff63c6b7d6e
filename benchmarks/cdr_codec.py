"""CDR codec benchmark: the compiled codec vs rosbags' generated functions, cold and warm (prints JSON).

For JointState (6 joints), Image (640x480 rgb8) and TFMessage (2 transforms), serialize and deserialize through
``msgs.Codec`` both ways (``LEROBOT_ROS_NATIVE=1`` and ``=0``), after checking both give the same bytes:

- cold: the median of ``--calls`` calls each made once after ``time.sleep(0.01)``, the variants interleaved:
  what a 100 Hz stream meets (caches cold between messages; an ``empty call`` row gives the floor);
- warm: the mean of a tight loop.

    python benchmarks/cdr_codec.py [--calls 500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from lerobot_ros.runtime import msgs

SWITCH = "LEROBOT_ROS_NATIVE"


def _codecs(typename: str) -> dict[str, msgs.Codec]:
    """The native and the rosbags codec of ``typename`` (the switch is read when a codec is created)."""
    saved = os.environ.get(SWITCH)
    try:
        out = {}
        for label, value in (("native", "1"), ("rosbags", "0")):
            os.environ[SWITCH] = value
            out[label] = msgs.Codec(typename, msgs.get_typestore())
    finally:
        if saved is None:
            os.environ.pop(SWITCH, None)
        else:
            os.environ[SWITCH] = saved
    if not out["native"].native:
        raise SystemExit("the native codec is not available here (see the warning above)")
    return out


def _messages() -> dict[str, Any]:
    image = np.random.default_rng(0).integers(0, 255, 640 * 480 * 3, dtype=np.uint8)
    return {
        "JointState": msgs.make("sensor_msgs/msg/JointState", name=[f"joint{i}" for i in range(6)],
                                position=[0.1] * 6, velocity=[0.0] * 6, effort=[0.0] * 6),
        "Image": msgs.make("sensor_msgs/msg/Image", height=480, width=640, encoding="rgb8", step=640 * 3,
                           data=image),
        "TFMessage": msgs.make("tf2_msgs/msg/TFMessage", transforms=[
            msgs.make("geometry_msgs/msg/TransformStamped", child_frame_id=f"link{i}",
                      header=msgs.make("std_msgs/msg/Header", frame_id="base")) for i in range(2)]),
    }


def _operations() -> dict[str, Callable[[], Any]]:
    ops: dict[str, Callable[[], Any]] = {"empty call": lambda: None}
    for label, msg in _messages().items():
        codecs = _codecs(msg.__msgtype__)
        data = bytes(codecs["native"].serialize(msg))
        if data != bytes(codecs["rosbags"].serialize(msg)):
            raise SystemExit(f"{label}: the native codec's bytes differ from rosbags'")
        for name, codec in codecs.items():
            ops[f"{label} serialize {name}"] = lambda c=codec, m=msg: c.serialize(m)
            ops[f"{label} deserialize {name}"] = lambda c=codec, d=data: c.deserialize(d)
    return ops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="cold calls per operation (default 500)")
    args = parser.parse_args(argv)
    ops = _operations()
    names = list(ops)
    cold: dict[str, list[float]] = {name: [] for name in names}
    for i in range(args.calls * len(names)):  # interleaved: a load change hits every operation alike
        name = names[i % len(names)]
        time.sleep(0.01)
        start = time.perf_counter_ns()
        ops[name]()
        cold[name].append((time.perf_counter_ns() - start) / 1e3)
    results = {}
    for name, fn in ops.items():
        reps = 20 if "Image" in name else 2000
        fn()
        start = time.perf_counter_ns()
        for _ in range(reps):
            fn()
        results[name] = {"cold_us_p50": round(statistics.median(cold[name]), 1),
                         "warm_us": round((time.perf_counter_ns() - start) / reps / 1e3, 2)}
    ratios = {}
    for label in dict.fromkeys(name.split()[0] for name in names if name != "empty call"):
        for op in ("serialize", "deserialize"):
            native, reference = results[f"{label} {op} native"], results[f"{label} {op} rosbags"]
            ratios[f"{label} {op}"] = round(native["cold_us_p50"] / reference["cold_us_p50"], 2)
    print(json.dumps({"benchmark": "cdr_codec", "calls": args.calls, "cpu_count": os.cpu_count(),
                      "results": results, "cold_native_vs_rosbags": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
