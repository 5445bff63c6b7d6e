"""Recorder benchmark (prints one JSON object).

1. Live: the ``recorder`` node (its own process, native Zenoh backend, in-process router) records one episode of
   ``--duration`` s at 30 fps from a synthetic robot process publishing joint states, leader commands and two
   480×640 ``rgb8`` cameras. Reports frames vs ticks, drops, the writer queue and encoder backlog peaks, and the
   CPU used by the recorder and the publisher (cores = CPU seconds / wall seconds). Real time = every tick of
   the episode gave a frame (0 drops). The publisher behaves like camera drivers: each message is stamped with
   its capture time on a steady 30 Hz schedule (a camera's hardware clock does not wait for the OS scheduler),
   and published as soon as the process gets the CPU; how late it published is reported
   (``publisher_late_max_ms``), as are messages lost between the processes (``transport_lost``, from
   rmw_zenoh's per-publisher sequence numbers). The images are published with ROS's default QoS (reliable,
   keep last: rmw_zenoh's DROP congestion control) unless ``--image-history keep_all`` (BLOCK: what docs/recording.md
   recommends for loss-free recording), set through the ``qos_overrides`` parameters. The router is a plain
   in-process one (``--router plain``) or ``lerobot-ros router``'s, with rmw_zenohd's defaults
   (``--router rmw_zenohd``); data goes peer to peer either way, and the two lose the same (docs/runtime.md).
2. Converter: ``--bag-frames`` frames of the same streams written to an MCAP bag, converted with
   ``lerobot-core dataset from-bag``'s code; frames/s versus the raw encoder limit (plain PyAV libsvtav1,
   same settings, one camera, divided by the two cameras), measured right after each conversion; the median of
   ``--converter-repeats`` pairs is reported (this machine's speed drifts); target ≥ 0.75×.

    python benchmarks/recorder.py --duration 60 --bag-frames 300 [--image-history keep_last|keep_all]
        [--router plain|rmw_zenohd]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np
import psutil

HEIGHT, WIDTH, FPS = 480, 640, 30
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def frames(camera: int, n: int = 30) -> list[np.ndarray]:
    """One second of video-like frames (textured table, a moving block, sensor noise), looped by the callers."""
    rng = np.random.default_rng(camera)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([120 + 40 * np.sin(xx / 37.0) + 20 * camera, 100 + 30 * np.cos(yy / 23.0), 80 + 0.05 * yy], -1)
    base = np.clip(base, 0, 250).astype(np.uint8)
    out = []
    for i in range(n):
        img = base + rng.integers(0, 5, base.shape, dtype=np.uint8)
        x = int(40 + (WIDTH - 160) * (0.5 + 0.5 * np.sin(i / 5.0)))
        img[200:260, x:x + 80] = (200, 40, 40)
        out.append(img)
    return out


def messages(k: int, ns: int, cams: list[list[np.ndarray]]):
    """(topic, msgtype, message) of frame k as rosbags objects."""
    from rosbags.typesys import Stores, get_typestore

    t = get_typestore(Stores.ROS2_HUMBLE).types
    header = t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9),
                                      frame_id="")  # fmt: skip
    pos = np.sin(k / 30.0 + np.arange(6))
    js = "sensor_msgs/msg/JointState"
    out = [("/joint_commands", js, t[js](header=header, name=JOINTS, position=pos + 0.01, velocity=np.zeros(0),
                                         effort=np.zeros(0))),
           ("/joint_states", js, t[js](header=header, name=JOINTS, position=pos, velocity=np.zeros(0),
                                       effort=np.zeros(0)))]  # fmt: skip
    for c, name in enumerate(("front", "wrist")):
        img = cams[c][k % len(cams[c])]
        out.append((f"/{name}/image_raw", "sensor_msgs/msg/Image", t["sensor_msgs/msg/Image"](
            header=header, height=HEIGHT, width=WIDTH, encoding="rgb8", is_bigendian=0, step=WIDTH * 3,
            data=img.reshape(-1))))  # fmt: skip
    return out


def run_publisher(stats_path: str, ros_args: list[str]) -> int:
    """Child process: publish the synthetic robot at FPS until SIGINT/SIGTERM; lateness stats to ``stats_path``."""
    from lerobot_ros.runtime import QOS_DEFAULT, Node
    from lerobot_ros.runtime.transport import shutdown_backends
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node = Node("bench_robot", argv=ros_args, enable_rosout=False)
    cams = [frames(0), frames(1)]
    pubs = {}
    k, start, start_ns = 0, time.monotonic(), time.time_ns()
    late_max, late_over_period = 0.0, 0
    while not stop.is_set():
        capture = start + k / FPS  # the camera's steady capture schedule; the stamp is the capture time
        late = time.monotonic() - capture
        late_max, late_over_period = max(late_max, late), late_over_period + (late > 1.0 / FPS)
        for topic, msgtype, msg in messages(k, start_ns + round(k * 1e9 / FPS), cams):
            if topic not in pubs:
                pubs[topic] = node.create_publisher(msgtype, topic, QOS_DEFAULT, qos_overriding=True)
            pubs[topic].publish(bytes(store.serialize_cdr(msg, msgtype)))
        k += 1
        stop.wait(max(0.0, start + k / FPS - time.monotonic()))
    Path(stats_path).write_text(json.dumps({"published": k, "late_max_ms": round(late_max * 1e3, 2),
                                            "late_over_one_period": late_over_period}))
    node.destroy()
    shutdown_backends()
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_router(endpoint: str, kind: str = "plain"):
    """An in-process router on ``endpoint``: ``plain`` (mode router, multicast off) or ``rmw_zenohd``'s defaults."""
    import zenoh
    from lerobot_ros.runtime.router import start_router

    if kind == "rmw_zenohd":
        return start_router([endpoint])
    config = zenoh.Config()
    config.insert_json5("mode", '"router"')
    config.insert_json5("listen/endpoints", json.dumps([endpoint]))
    config.insert_json5("scouting/multicast/enabled", "false")
    return zenoh.open(config)


def bench_live(duration_s: float, tmp: Path, image_history: str = "keep_last", router_kind: str = "plain") -> dict:
    import yaml

    endpoint = f"tcp/127.0.0.1:{free_port()}"
    router = open_router(endpoint, router_kind)
    env = dict(os.environ, LEROBOT_ROS_BACKEND="zenoh", ZENOH_ROUTER_CHECK_ATTEMPTS="5",
               ZENOH_CONFIG_OVERRIDE=f'connect/endpoints=["{endpoint}"];listen/endpoints=["tcp/127.0.0.1:0"]')  # fmt: skip
    root = tmp / "live"
    params = {"recorder": {"ros__parameters": {
        "auto": True, "num_episodes": 1, "episode_time_s": float(duration_s), "state.joints": JOINTS,
        "cameras": ["front", "wrist"], "camera.front.topic": "/front/image_raw",
        "camera.wrist.topic": "/wrist/image_raw", "task": "benchmark", "dataset.repo_id": "bench/recorder",
        "dataset.root": str(root), "keyboard": False}}}  # fmt: skip
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    pub_stats = tmp / "publisher.json"
    qos_args = [] if image_history == "keep_last" else ["--ros-args"] + [
        a for cam in ("front", "wrist") for a in ("-p", f"qos_overrides./{cam}/image_raw.publisher.history:={image_history}")]
    pub = subprocess.Popen([sys.executable, __file__, "--publisher", str(pub_stats), *qos_args], env=env)
    time.sleep(2.0)
    rec = subprocess.Popen([sys.executable, "-m", "lerobot_ros.run", "recorder", "--ros-args", "--params-file",
                            str(tmp / "params.yaml")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)  # fmt: skip
    ps_rec, ps_pub = psutil.Process(rec.pid), psutil.Process(pub.pid)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(rec.stdout), daemon=True).start()
    start = time.monotonic()
    cpu0 = {"rec": ps_rec.cpu_times(), "pub": ps_pub.cpu_times()}
    cpu_last = dict(cpu0)
    while rec.poll() is None and time.monotonic() - start < duration_s + 120:
        try:
            cpu_last = {"rec": ps_rec.cpu_times(), "pub": ps_pub.cpu_times()}
        except psutil.NoSuchProcess:
            break
        time.sleep(0.5)
    wall = time.monotonic() - start
    code = rec.wait(timeout=60)
    pub.send_signal(signal.SIGINT)
    pub.wait(timeout=30)
    router.close()

    def cores(key: str) -> float:
        a, b = cpu0[key], cpu_last[key]
        return round((b.user + b.system - a.user - a.system) / wall, 2)

    reports = json.loads((root / "meta" / "recording_report.json").read_text())["episodes"] if code == 0 else []
    r = reports[0] if reports else {}
    published = json.loads(pub_stats.read_text()) if pub_stats.exists() else {}
    return {
        "duration_s": duration_s, "exit_code": code, "ticks": r.get("ticks"), "frames": r.get("length"),
        "dropped_ticks": r.get("dropped_ticks"), "queue_full_drops": r.get("queue_full_drops"),
        "queue_max_depth": r.get("queue_max_depth"), "encoder_backlog_max": r.get("encoder_backlog_max"),
        "encoder_dropped": {k.rsplit(".", 1)[-1]: v.get("encoder_dropped") for k, v in r.get("streams", {}).items()
                            if "images" in k},
        "drop_reasons": {k.rsplit(".", 1)[-1]: {w: n for w, n in v.get("dropped", {}).items() if n}
                         for k, v in r.get("streams", {}).items()},
        "receive_delay_max_ms": {k.rsplit(".", 1)[-1]: v.get("receive_delay_max_ms")
                                 for k, v in r.get("streams", {}).items() if k != "task"},
        "late_samples": sum(v.get("late", 0) for v in r.get("streams", {}).values()),
        "stream_gaps": {k.rsplit(".", 1)[-1]: v.get("gaps") for k, v in r.get("streams", {}).items() if k != "task"},
        "transport_lost": {k.rsplit(".", 1)[-1]: v.get("transport_lost") for k, v in r.get("streams", {}).items()
                           if k != "task"},
        "publisher_late_max_ms": published.get("late_max_ms"),
        "publisher_late_over_one_period": published.get("late_over_one_period"),
        "worst_staleness_ms": max((v.get("staleness_max_ms", 0) for v in r.get("streams", {}).values()), default=None),
        "real_time_zero_drops": bool(r) and r["length"] == r["ticks"] and not any(
            v.get("encoder_dropped") for v in r["streams"].values()),
        "recorder_cpu_cores": cores("rec"), "publisher_cpu_cores": cores("pub"), "wall_s": round(wall, 1),
        "log_tail": log[-3:] if code else [],
    }  # fmt: skip


def bench_converter(n: int, tmp: Path) -> dict:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    import lerobot_core.datasets  # noqa: F401  (imported before timing: torch's import is not conversion time)
    from lerobot_core.recording import RecordingConfig
    from lerobot_core.recording.bag import convert_bags

    store = get_typestore(Stores.ROS2_HUMBLE)
    cams = [frames(0), frames(1)]
    tmp.mkdir(parents=True, exist_ok=True)
    bag = tmp / "bag"
    t0 = 1_700_000_000_000_000_000
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for k in range(n):
            ns = t0 + k * round(1e9 / FPS)
            for topic, msgtype, msg in messages(k, ns, cams):
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
                writer.write(conns[topic], ns + 1_000_000, bytes(store.serialize_cdr(msg, msgtype)))
    config = RecordingConfig.from_dict({
        "fps": FPS, "state": {"topic": "/joint_states", "joints": JOINTS}, "task": "benchmark",
        "cameras": [{"key": "front", "topic": "/front/image_raw"}, {"key": "wrist", "topic": "/wrist/image_raw"}],
        "dataset": {"repo_id": "bench/conv", "root": str(tmp / "conv")}})  # fmt: skip
    start = time.perf_counter()
    summary = convert_bags([bag], config, progress=False, log=lambda m: None)
    elapsed = time.perf_counter() - start
    raw = raw_encoder_fps(cams[0], n=min(n, 150))
    fps = summary["frames"] / elapsed
    return {"frames": summary["frames"], "seconds": round(elapsed, 2), "frames_per_s": round(fps, 1),
            "raw_pyav_encoder_frames_per_s_one_camera": round(raw, 1),
            "encoder_limit_timesteps_per_s_two_cameras": round(raw / 2, 1),
            "ratio_to_encoder_limit": round(fps / (raw / 2), 2),
            "encoder_dropped": sum(v.get("encoder_dropped", 0) for r in summary["reports"] for v in r["streams"].values())}  # fmt: skip


def raw_encoder_fps(cycle: list[np.ndarray], n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, av.open(f"{tmp}/raw.mp4", "w") as out:
        stream = out.add_stream("libsvtav1", rate=FPS, options={"g": "2", "crf": "30", "preset": "12"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        start = time.perf_counter()
        for i in range(n):
            for p in stream.encode(av.VideoFrame.from_ndarray(cycle[i % len(cycle)], format="rgb24")):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
        return n / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="live episode length in seconds (default 60)")
    parser.add_argument("--bag-frames", type=int, default=300, help="frames in the converted bag (default 300)")
    parser.add_argument("--converter-repeats", type=int, default=3,
                        help="converter + raw-encoder pairs; the median ratio is reported (default 3)")
    parser.add_argument("--image-history", choices=("keep_last", "keep_all"), default="keep_last",
                        help="history QoS of the image publishers (default keep_last, as ROS's default QoS)")
    parser.add_argument("--router", choices=("plain", "rmw_zenohd"), default="plain",
                        help="in-process router: plain, or lerobot-ros router's rmw_zenohd defaults (default plain)")
    parser.add_argument("--publisher", metavar="STATS_JSON", help=argparse.SUPPRESS)
    args, ros_args = parser.parse_known_args()
    if args.publisher:
        return run_publisher(args.publisher, ros_args)
    if ros_args:
        parser.error(f"unrecognized arguments: {' '.join(ros_args)}")
    os.environ.setdefault("SVT_LOG", "1")
    with tempfile.TemporaryDirectory() as tmp:
        live = bench_live(args.duration, Path(tmp), args.image_history, args.router)
        runs = []
        for i in range(args.converter_repeats):  # converter and raw encoder interleaved: the ratio is robust to drift
            runs.append(bench_converter(args.bag_frames, Path(tmp) / f"conv{i}"))
        conv = sorted(runs, key=lambda r: r["ratio_to_encoder_limit"])[len(runs) // 2]  # the median run
        conv["ratios_all_runs"] = [r["ratio_to_encoder_limit"] for r in runs]
    print(json.dumps({"benchmark": "recorder", "cpus": os.cpu_count(), "camera": f"{WIDTH}x{HEIGHT}", "fps": FPS,
                      "image_history": args.image_history, "router": args.router, "live": live, "converter": conv}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
