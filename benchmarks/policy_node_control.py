"""Policy node control loop: period error at 30 Hz while inference runs, and observation-to-command latency.

A robot process publishes ``/joint_states`` and two 480×640 rgb8 cameras at 30 Hz through an in-process Zenoh
router on loopback; this process runs the ``policy`` node (ACT, local inference in the engine's worker thread,
commands published as ``JointTrajectory``). After a warm-up, for ``--duration`` seconds:

- ``period_error_ms_p50/p99``: |tick start − its steady-clock deadline| of the control loop (target p99 ≤ 3 ms
  on 2 cores), ``rate_hz`` achieved, ``missed_ticks``;
- ``obs_to_command_ms_p50/p99``: from the arrival of the observation a chunk was computed from to the first
  command of that chunk on the wire (inference + merge + the wait for the next tick);
- ``inference_latency_ms_p50/p99`` (request to merge), ``starvation``, ``policy_ticks``/``fallback_ticks``.

Policies: ``fixture`` (the upstream ACT fixture, 96×128 inputs, chunk 10) and ``act_default`` (upstream's
default ACT size — resnet18, dim 512, chunk 100 — with random weights, 96×128 inputs); each once with normal
scheduling and once with ``realtime_priority: 10`` (``SCHED_FIFO`` for the control thread when permitted;
``realtime`` says whether it was granted).

    python benchmarks/policy_node_control.py [--duration 15] [--policies fixture,act_default]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEROBOT_SHARED_DIR", REPO.parent / "shared"))
FIXTURE = SHARED / "fixtures" / "upstream_lerobot"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
FPS = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def robot_child(endpoint: str) -> None:
    """Publish joint states and two cameras at 30 Hz until killed."""
    import numpy as np
    from lerobot_ros.nodes.joint_control import joint_state_msg
    from lerobot_ros.runtime import QOS_DEFAULT, Node
    from lerobot_ros.runtime.conversions import numpy_to_image

    node = Node("bench_robot")
    states = node.create_publisher("sensor_msgs/msg/JointState", "/joint_states", QOS_DEFAULT)
    cams = {c: node.create_publisher("sensor_msgs/msg/Image", f"/{c}/image_raw", QOS_DEFAULT) for c in ("front", "wrist")}
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (480, 640, 3), np.uint8) for _ in range(4)]
    q = np.zeros(6)
    deadline = time.monotonic()
    i = 0
    while True:
        deadline += 1 / FPS
        time.sleep(max(0.0, deadline - time.monotonic()))
        now = time.time()
        q = 0.2 * np.sin(np.arange(6) + i / 30.0)
        states.publish(joint_state_msg(JOINTS, q, None, now))
        for cam in cams.values():
            cam.publish(numpy_to_image(frames[i % 4], "rgb8", stamp=now))
        i += 1


def default_act_checkpoint(out: Path) -> Path:
    """Upstream's default ACT size with random weights, features of the fixture (96×128 front/wrist, 6-D)."""
    import numpy as np
    import torch

    from lerobot_core.policies import ACTConfig, ACTPolicy, make_pre_post_processors
    from lerobot_core.processor import FeatureType, PolicyFeature

    inputs = {"observation.state": PolicyFeature(FeatureType.STATE, (6,))}
    for cam in ("front", "wrist"):
        inputs[f"observation.images.{cam}"] = PolicyFeature(FeatureType.VISUAL, (3, 96, 128))
    cfg = ACTConfig(input_features=inputs, output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
                    device="cpu", pretrained_backbone_weights=None)
    torch.manual_seed(0)
    policy = ACTPolicy(cfg)
    stats = {"observation.state": {"mean": np.zeros(6), "std": np.ones(6)},
             "action": {"mean": np.zeros(6), "std": np.full(6, 0.01)}}
    for key in inputs:
        if key.startswith("observation.images."):
            stats[key] = {"mean": np.full((3, 1, 1), 0.5), "std": np.full((3, 1, 1), 0.25)}
    pre, post = make_pre_post_processors(cfg, dataset_stats=stats)
    for obj in (policy, pre, post):
        obj.save_pretrained(out)
    return out


def run_policy(endpoint: str, checkpoint: Path, params: dict[str, Any], duration: float) -> dict[str, Any]:
    from lerobot_ros.nodes.policy import PolicyNode
    from lerobot_ros.runtime import Node

    node = Node("policy", parameter_overrides={"policy_path": str(checkpoint), "fps": FPS, "estop_service": "",
                                               "preview": False, **params})
    policy = PolicyNode(node)
    try:
        deadline = time.monotonic() + 60
        while policy.engine.counters["merges"] < 2 and time.monotonic() < deadline:  # warm-up
            time.sleep(0.1)
        time.sleep(1.0)
        policy.loop.errors_ms = deque(maxlen=1_000_000)
        policy.loop.starts = deque(maxlen=1_000_000)
        policy.obs_to_command_ms = deque(maxlen=1_000_000)
        before = dict(policy.counters)
        starvation = policy.engine.counters["starvation"]
        missed = policy.loop.missed
        time.sleep(duration)
        stats = policy.stats()
    finally:
        policy.close()
        node.destroy()
    keys = ("realtime", "rate_hz", "period_error_ms_p50", "period_error_ms_p99", "obs_to_command_ms_p50", "obs_to_command_ms_p99",
            "inference_latency_ms_p50", "inference_latency_ms_p99", "compute_ms_p50", "compute_ms_p99")
    out = {k: round(float(stats[k]), 3) for k in keys}
    out.update(missed_ticks=policy.loop.missed - missed, starvation=stats["starvation"] - starvation,
               policy_ticks=stats["policy_ticks"] - before["policy_ticks"],
               fallback_ticks=stats["fallback_ticks"] - before["fallback_ticks"],
               period_error_target_met=stats["period_error_ms_p99"] <= 3.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--policies", default="fixture,act_default")
    parser.add_argument("--child", default="")
    parser.add_argument("--router", default="")
    args = parser.parse_args()
    if args.child == "robot":
        robot_child(args.router)
        return
    import zenoh

    endpoint = f"tcp/127.0.0.1:{_free_port()}"
    config = zenoh.Config()
    config.insert_json5("mode", '"router"')
    config.insert_json5("listen/endpoints", json.dumps([endpoint]))
    config.insert_json5("scouting/multicast/enabled", "false")
    router = zenoh.open(config)
    override = f'connect/endpoints=["{endpoint}"];listen/endpoints=["tcp/127.0.0.1:0"]'
    os.environ.update(ZENOH_CONFIG_OVERRIDE=override, ZENOH_ROUTER_CHECK_ATTEMPTS="10", LEROBOT_ROS_BACKEND="zenoh")
    robot = subprocess.Popen([sys.executable, __file__, "--child", "robot", "--router", endpoint], env=dict(os.environ))
    results: dict[str, Any] = {"fps": FPS, "cameras": "2 x 480x640 rgb8", "duration_s": args.duration,
                               "cpu_count": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in [p for p in args.policies.split(",") if p]:
                if name == "fixture":
                    ckpt, params = FIXTURE / "act" / "pretrained_model", {"dataset": str(FIXTURE / "dataset_v30"),
                                                                         "units": "degrees"}
                elif name == "act_default":
                    ckpt, params = default_act_checkpoint(Path(tmp) / "act_default"), {}
                else:
                    raise SystemExit(f"unknown policy {name!r}: fixture or act_default")
                results[name] = run_policy(endpoint, ckpt, params, args.duration)
                results[f"{name}_realtime_priority"] = run_policy(endpoint, ckpt, {**params, "realtime_priority": 10},
                                                                  args.duration)
    finally:
        robot.kill()
        robot.wait()
        router.close()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
