"""`lerobot-ros sim-demo`: bring up the simulated SO-101 with scripted teleop and show that its topics flow.

Runs ``lerobot-ros launch lerobot_ros so101_sim.launch.yaml scripted_teleop:=true`` (headless, no ROS), watches
``/joint_states``, ``/joint_commands``, the camera images, ``/task``, ``/success`` and ``/tf`` for
``--duration`` seconds, stops the launch with SIGINT and prints one JSON object: per-topic message counts and
rates, the task, the episodes that succeeded, and the launch's exit code. Exit code 0 when every topic flowed.

    lerobot-ros sim-demo --duration 15 --width 320 --height 240

By hand, the same is ``lerobot-ros launch lerobot_ros so101_sim.launch.yaml scripted_teleop:=true`` and, in
another shell, ``lerobot-ros topic hz /joint_states`` (or ``topic list`` / ``topic echo /success``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from lerobot_ros.runtime import QOS_DEFAULT, QOS_TRANSIENT_LOCAL, Node

__all__ = ["WATCHED", "main", "run_sim_demo", "start_launch", "stop_launch", "watch_launch"]

DEFAULT_ROUTER = "tcp/localhost:7447"
WATCHED = {
    "/joint_states": "sensor_msgs/msg/JointState",
    "/joint_commands": "sensor_msgs/msg/JointState",
    "/front/image_raw": "sensor_msgs/msg/Image",
    "/wrist/image_raw": "sensor_msgs/msg/Image",
    "/success": "std_msgs/msg/Bool",
    "/tf": "tf2_msgs/msg/TFMessage",
}


def start_launch(launch_args: list[str], router: str, echo: bool = False,
                 on_line: Callable[[str], None] | None = None) -> tuple[subprocess.Popen[str], list[str]]:  # fmt: skip
    """Start ``lerobot-ros launch <launch_args> --router <router>`` in its own process group.

    Its output lines are collected into the returned list (echoed to stderr with ``echo``, passed to
    ``on_line``); Zenoh config variables of this process are not inherited, so the launch uses ``router``.
    """
    cmd = [sys.executable, "-m", "lerobot_ros.cli", "launch", *launch_args, "--router", router]
    env = {k: v for k, v in os.environ.items() if k not in ("ZENOH_CONFIG_OVERRIDE", "ZENOH_SESSION_CONFIG_URI")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # fmt: skip
    output: list[str] = []

    def pump() -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            output.append(line)
            if echo:
                print(line, file=sys.stderr, flush=True)
            if on_line is not None:
                on_line(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, output


def stop_launch(proc: subprocess.Popen[str], timeout_s: float = 30.0) -> int:
    """SIGINT the launch's process group (if still running), wait, SIGKILL after ``timeout_s``; its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def watch_launch(launch_args: list[str], watched: dict[str, str], duration_s: float, router: str = DEFAULT_ROUTER,
                 startup_timeout_s: float = 60.0, echo: bool = False, start_topic: str = "/joint_states") -> dict[str, Any]:  # fmt: skip
    """Run ``lerobot-ros launch <launch_args>`` headless, count messages on ``watched`` topics and stop it.

    Counting runs for ``duration_s`` after the first message on ``start_topic``. ``/success`` (if watched) is
    counted as rising edges and ``/task`` is read as transient-local. Returns per-topic counts and rates, the
    task, the succeeded episodes, the launch command, its exit code and (on failure) its last output lines.
    """
    from lerobot_ros.runtime.zenoh_backend import ZenohContext

    proc, output = start_launch(launch_args, router, echo)
    counts = dict.fromkeys(watched, 0)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    state: dict[str, Any] = {"task": None, "successes": 0, "prev_success": False}
    lock = threading.Lock()

    def counter(topic: str):
        def on_message(msg: Any) -> None:
            now = time.monotonic()
            with lock:
                counts[topic] += 1
                first.setdefault(topic, now)
                last[topic] = now
                if topic == "/success":
                    if msg.data and not state["prev_success"]:
                        state["successes"] += 1
                    state["prev_success"] = bool(msg.data)
        return on_message

    host = router.replace("localhost", "127.0.0.1")
    ctx = node = None
    code: int | None = None
    try:
        deadline = time.monotonic() + startup_timeout_s
        while ctx is None:  # the launcher starts the router: wait for it
            try:
                ctx = ZenohContext(overrides={"connect/endpoints": json.dumps([host])}, router_check_attempts=5)
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        node = Node("demo_monitor", context=ctx, enable_rosout=False)
        for topic, typename in watched.items():
            node.create_subscription(typename, topic, counter(topic), QOS_DEFAULT)
        node.create_subscription("std_msgs/msg/String", "/task", lambda m: state.update(task=m.data),
                                 QOS_TRANSIENT_LOCAL)  # fmt: skip
        while not counts.get(start_topic) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        if counts.get(start_topic):
            time.sleep(duration_s)
    finally:
        if node is not None:
            node.destroy()
        if ctx is not None:
            ctx.close()
        code = stop_launch(proc, timeout_s=30)
    topics = {}
    for topic in watched:
        span = last.get(topic, 0.0) - first.get(topic, 0.0)
        rate = (counts[topic] - 1) / span if counts[topic] > 1 and span > 0 else 0.0
        topics[topic] = {"messages": counts[topic], "rate_hz": round(rate, 2)}
    return {
        "launch": " ".join(["lerobot-ros", "launch", *launch_args, "--router", router]),
        "duration_s": duration_s,
        "topics": topics,
        "task": state["task"],
        "episodes_succeeded": state["successes"],
        "all_topics_flowed": all(t["messages"] > 0 for t in topics.values()),
        "launch_exit_code": code,
        "launch_output_tail": output[-5:] if code else [],
    }


def run_sim_demo(duration_s: float = 10.0, width: int = 320, height: int = 240, router: str = DEFAULT_ROUTER,
                 startup_timeout_s: float = 60.0, echo: bool = False) -> dict[str, Any]:  # fmt: skip
    """Launch the simulated arm with scripted teleop, watch its topics for ``duration_s`` and stop it."""
    args = ["lerobot_ros", "so101_sim.launch.yaml", "scripted_teleop:=true", f"camera_width:={width}",
            f"camera_height:={height}"]  # fmt: skip
    summary = watch_launch(args, WATCHED, duration_s, router, startup_timeout_s, echo)
    summary["camera"] = f"{width}x{height}"
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros sim-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to watch the topics (default 10)")
    parser.add_argument("--width", type=int, default=320, help="rendered camera width (default 320)")
    parser.add_argument("--height", type=int, default=240, help="rendered camera height (default 240)")
    parser.add_argument("--router", default=os.environ.get("LEROBOT_ROS_ROUTER", DEFAULT_ROUTER),
                        help=f"Zenoh router endpoint (started by the launch unless one answers; default {DEFAULT_ROUTER})")
    parser.add_argument("--echo", action="store_true", help="show the nodes' output")
    opts = parser.parse_args(argv)
    summary = run_sim_demo(opts.duration, opts.width, opts.height, opts.router, echo=opts.echo)
    print(json.dumps(summary, indent=2))
    return 0 if summary["all_topics_flowed"] and summary["launch_exit_code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
