"""`recorder`: ROS topics → LeRobot v3.0 dataset (the live driver of ``lerobot_core.recording``).

Subscriptions only stamp and buffer the raw CDR (never block); a steady-clock thread evaluates the ticks of
the synchronizer at ``fps``; decoding, ``add_frame``, encoding and saving run on the recorder's writer thread
behind a bounded queue (a frame that finds it full is dropped and counted).

Episode control: ``~/start_episode``, ``~/save_episode``, ``~/discard_episode``, ``~/finish``
(``std_srvs/Trigger``); ``auto: true`` records ``num_episodes`` episodes of ``episode_time_s`` with
``reset_time_s`` between them, then finishes; in a terminal (stdin is a TTY, ``keyboard: true``): → save and
next, ← discard and re-record, Esc finish. ``~/status`` (``std_msgs/String``, JSON): state, episode index,
frames, drops, queue depth, encoder backlog. Per-episode integrity reports go to ``meta/recording_report.json``;
``/robot_description``, the cameras' ``CameraInfo`` and ``/tf_static`` go to ``meta/`` when published.

Parameters (see ``config/recorder.yaml``): the mapping of docs/recording.md as parameters (``fps``,
``state.topic|joints|units``, ``action.topic|type|joints``, ``cameras`` + ``camera.<key>.topic|type|resize``,
``task``, ``task_topic``, ``stamp``, ``tolerance_s``, ``latency_s``, ``episode_time_s``, ``reset_time_s``,
``num_episodes``, ``dataset.*``), or ``mapping_file`` (a mapping YAML); plus ``auto``, ``keyboard``,
``exit_on_finish``, ``status_period_s``, ``queue_size``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import threading
import time
from dataclasses import fields
from typing import Any

from lerobot_core.recording.decode import cdr_header_stamp_ns
from lerobot_core.recording.mapping import (
    ActionConfig,
    CameraConfig,
    DatasetConfig,
    RecordingConfig,
    StateConfig,
    load_mapping,
)
from lerobot_core.recording.recorder import DatasetRecorder, message_to_dict
from lerobot_ros.runtime import QOS_DEFAULT, QOS_TRANSIENT_LOCAL, Node, make, msgs, request_shutdown, spin
from lerobot_ros.runtime.transport import shutdown_backends

__all__ = ["RecorderNode", "config_from_params", "main"]

HEADER_TYPES = {"sensor_msgs/msg/JointState", "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage",
                "trajectory_msgs/msg/JointTrajectory"}  # fmt: skip
_ARRAY_TYPES = {str: "string_array", int: "integer_array", float: "double_array"}


def _declare_section(node: Node, prefix: str, cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Declare ``<prefix>.<field>`` for every field of dataclass ``cls`` with its default; return the values."""
    out = {}
    defaults = cls()
    for f in fields(cls):
        if f.name in skip:
            continue
        default = getattr(defaults, f.name)
        name = f"{prefix}.{f.name}" if prefix else f.name
        if isinstance(default, list):
            elem = type(default[0]) if default else (int if f.name == "resize" else str)
            out[f.name] = list(node.declare_parameter(name, default, type_=_ARRAY_TYPES[elem]))
        else:
            out[f.name] = node.declare_parameter(name, default)
    return out


def config_from_params(node: Node) -> RecordingConfig:
    """The mapping from ``mapping_file`` or from the node's parameters (docs/recording.md)."""
    mapping_file = node.declare_parameter("mapping_file", "", "mapping YAML (instead of the parameters below)")
    if mapping_file:
        return RecordingConfig.from_dict(load_mapping(mapping_file))
    top = _declare_section(node, "", RecordingConfig, skip=("state", "action", "cameras", "dataset"))
    data: dict[str, Any] = dict(top)
    data["state"] = _declare_section(node, "state", StateConfig)
    action = _declare_section(node, "action", ActionConfig)
    data["action"] = action if action["topic"] else None
    keys = list(node.declare_parameter("cameras", [], type_="string_array"))
    data["cameras"] = [{"key": k, **_declare_section(node, f"camera.{k}", CameraConfig, skip=("key",))} for k in keys]
    data["dataset"] = _declare_section(node, "dataset", DatasetConfig)
    return RecordingConfig.from_dict(data)


class RecorderNode:
    """The recorder on ``node``; ``state`` is idle | recording | resetting | finishing | finished."""

    def __init__(self, node: Node, *, stdin: Any = None) -> None:
        self.node = node
        self.log = node.get_logger()
        self.config = config = config_from_params(node)
        p = node.declare_parameter
        self.auto = p("auto", False, "record num_episodes episodes of episode_time_s with reset_time_s between")
        keyboard = p("keyboard", True, "→ save/next, ← discard/re-record, Esc finish (only when stdin is a TTY)")
        self.exit_on_finish = p("exit_on_finish", True, "shut the node down once the dataset is finalized")
        status_period = p("status_period_s", 0.5, "period of ~/status (s)")
        queue_size = p("queue_size", 0, "frames between the clock and the writer thread (0: 2 × fps)")
        reset_service = p("reset_service", "", "std_srvs/Trigger called before each episode (e.g. /sim/reset)")
        self.subscriptions: dict[str, Any] = {}
        self.recorder = DatasetRecorder(config, deserialize=lambda raw, t: msgs.deserialize(raw, t), threaded=True,
                                        queue_size=queue_size or None, log=self.log.info,
                                        transport_lost=lambda: {s: sub.lost for s, sub in self.subscriptions.items()})  # fmt: skip
        self._lock = threading.RLock()
        self.state = "idle"
        self.started = 0
        self.saved = 0
        self.discarded = 0
        self._reset_until = 0.0
        info = self.recorder.root / "meta" / "info.json"
        self._initial_episodes = (json.loads(info.read_text()).get("total_episodes", 0)
                                  if config.dataset.resume and info.exists() else 0)  # fmt: skip
        for stream, topic, msgtype in self.recorder.topics():
            qos = QOS_TRANSIENT_LOCAL if stream == "task" else QOS_DEFAULT
            self.subscriptions[stream] = node.create_subscription(msgtype, topic, self._on_sample(stream, msgtype), qos,
                                                                  raw=True, qos_overriding=True)  # fmt: skip
        self._camera_infos: dict[str, Any] = {}
        self._tf: dict[str, Any] = {}
        node.create_subscription("std_msgs/msg/String", "/robot_description",
                                 lambda m: self.recorder.store_meta("robot.urdf", m.data), QOS_TRANSIENT_LOCAL)  # fmt: skip
        node.create_subscription("tf2_msgs/msg/TFMessage", "/tf_static", self._on_tf_static, QOS_TRANSIENT_LOCAL)
        for cam in config.cameras:
            node.create_subscription("sensor_msgs/msg/CameraInfo", cam.camera_info_topic(),
                                     self._on_camera_info(cam.key), QOS_DEFAULT)  # fmt: skip
        self.reset_client = node.create_client("std_srvs/srv/Trigger", reset_service) if reset_service else None
        self.status_pub = node.create_publisher("std_msgs/msg/String", "~/status", QOS_DEFAULT)
        for name, handler in (("start_episode", self.srv_start), ("save_episode", self.srv_save),
                              ("discard_episode", self.srv_discard), ("finish", self.srv_finish)):  # fmt: skip
            node.create_service("std_srvs/srv/Trigger", f"~/{name}", handler)
        self.status_timer = node.create_timer(status_period, self.publish_status)
        self._stop = threading.Event()
        self._clock = threading.Thread(target=self._run_clock, name="recorder-clock", daemon=True)
        self._clock.start()
        stdin = sys.stdin if stdin is None else stdin
        self._keyboard = None
        self.keyboard_ready = threading.Event()
        if keyboard and hasattr(stdin, "isatty") and stdin.isatty():
            self._keyboard = threading.Thread(target=self._run_keyboard, args=(stdin,), name="recorder-keys", daemon=True)
            self._keyboard.start()
        streams = ", ".join(f"{s}={t}" for s, t, _ in self.recorder.topics())
        self.log.info(f"recording {config.fps} fps into {self.recorder.root} ({streams}); "
                      + ("automatic: " + (f"{config.num_episodes} episode(s) of " if config.num_episodes else "")
                         + f"{config.episode_time_s} s, reset {config.reset_time_s} s" if self.auto
                         else "call ~/start_episode (or press → in the terminal)"))  # fmt: skip
        if self.auto:
            self.state = "resetting"  # the clock thread starts the first episode at once

    # ------------------------------------------------------------------------------------------- inputs
    def _on_sample(self, stream: str, msgtype: str):
        has_header = msgtype in HEADER_TYPES
        push = self.recorder.push

        def on_raw(cdr: bytes) -> None:
            now = time.time_ns()
            stamp = cdr_header_stamp_ns(cdr) if has_header else None
            push(stream, stamp or None, cdr, now)  # a zero stamp (e.g. "start now" trajectories): receive time

        return on_raw

    def _on_tf_static(self, msg: Any) -> None:
        for t in msg.transforms:
            self._tf[t.child_frame_id] = message_to_dict(t)
        self.recorder.store_meta("tf_static.json", list(self._tf.values()))

    def _on_camera_info(self, key: str):
        def on_info(msg: Any) -> None:
            if key not in self._camera_infos:
                self._camera_infos[key] = message_to_dict(msg)
                self.recorder.store_meta("camera_info.json", dict(self._camera_infos))

        return on_info

    # ------------------------------------------------------------------------------------------ control
    def _max_ticks(self) -> int | None:
        return round(self.config.episode_time_s * self.config.fps) if self.config.episode_time_s > 0 else None

    def _reset_environment(self) -> int:
        """Call ``reset_service`` (if any); the episode then starts two periods later (the reset took effect)."""
        if self.reset_client is None:
            return time.time_ns()
        try:
            if not self.reset_client.wait_for_service(30.0):
                raise TimeoutError("not available after 30 s")
            response = self.reset_client.call(timeout_s=10.0)
            if not response.success:
                self.log.warning(f"reset service {self.reset_client.name}: {response.message}")
        except Exception as exc:
            self.log.warning(f"reset service {self.reset_client.name} failed: {exc}")
        return time.time_ns() + 2 * round(1e9 / self.config.fps)

    def start(self) -> str:
        if self.state in ("recording", "finishing", "finished"):
            return f"cannot start: {self.state}"
        start_ns = self._reset_environment()
        with self._lock:
            if self.state in ("recording", "finishing", "finished"):
                return f"cannot start: {self.state}"
            self.recorder.start_episode(start_ns, self._max_ticks())
            self.state = "recording"
            self.started += 1
        self.log.info(f"recording episode {self._episode_label()}")
        return f"recording episode {self._episode_label()}"

    def save(self, drain: bool = True) -> str:
        """Save the running episode; with ``drain`` its last ticks (up to now) are evaluated first, after
        ``latency_s`` (messages stamped before now may still be on their way)."""
        if drain:
            with self._lock:
                if self.state != "recording":
                    return f"nothing to save: {self.state}"
                self.recorder.sync.end_at(time.time_ns())
            time.sleep(self.config.latency_s + self.config.period_s)
        with self._lock:
            if self.state != "recording":
                return f"nothing to save: {self.state}"
            self.recorder.advance(time.time_ns())
            frames = self.recorder.frames_in_episode
            label = self._episode_label()
            self.recorder.save_episode()
            self.saved += 1
            self._after_episode()
        return f"saving episode {label} ({frames} frames)"

    def discard(self) -> str:
        with self._lock:
            if self.state != "recording":
                return f"nothing to discard: {self.state}"
            self.recorder.discard_episode()
            self.discarded += 1
            self.state = "idle"
            if self.auto:
                self._reset_until = time.monotonic() + self.config.reset_time_s
                self.state = "resetting"
        self.log.info("episode discarded; " + ("re-recording after the reset" if self.auto else "call start_episode"))
        return "episode discarded"

    def _after_episode(self) -> None:
        n = self.config.num_episodes
        if n and self.saved >= n:
            self._finish_async()
        elif self.auto:
            self._reset_until = time.monotonic() + self.config.reset_time_s
            self.state = "resetting"
        else:
            self.state = "idle"

    def finish(self) -> str:
        if self.state == "recording":  # a running episode is saved (Esc / ~/finish), as upstream does
            self.save()
        with self._lock:
            if self.state in ("finishing", "finished"):
                return self.state
            if self.state == "recording":
                self.recorder.discard_episode()
            self._finish_async()
        return "finishing: finalizing the dataset"

    def _finish_async(self) -> None:
        self.state = "finishing"

        def run() -> None:
            try:
                self.recorder.finish()
                self.log.info(f"dataset finalized: {self.recorder.root} ({self.saved} episode(s) saved this session)")
            except Exception as exc:
                self.log.error(f"finish failed: {exc}")
            with self._lock:
                self.state = "finished"
            self.publish_status()
            if self.exit_on_finish:
                request_shutdown()

        threading.Thread(target=run, name="recorder-finish", daemon=True).start()

    def _episode_label(self) -> int:
        """The index the running (or next) episode gets when saved."""
        return self._initial_episodes + self.saved

    # ------------------------------------------------------------------------------------------ services
    def _trigger(self, fn) -> Any:
        message = fn()
        ok = not message.startswith(("cannot", "nothing"))
        return make("std_srvs/srv/Trigger_Response", success=ok, message=message)

    def srv_start(self, _req: Any) -> Any:
        return self._trigger(self.start)

    def srv_save(self, _req: Any) -> Any:
        return self._trigger(self.save)

    def srv_discard(self, _req: Any) -> Any:
        return self._trigger(self.discard)

    def srv_finish(self, _req: Any) -> Any:
        return self._trigger(self.finish)

    # ------------------------------------------------------------------------------------------- threads
    def _run_clock(self) -> None:
        period = self.config.period_s
        next_t = time.monotonic()
        while not self._stop.is_set():
            next_t += period
            with self._lock:
                if self.state == "recording":
                    self.recorder.advance(time.time_ns())
                    if self.recorder.sync.done:
                        self.save(drain=False)
                due = self.state == "resetting" and time.monotonic() >= self._reset_until
            if due:
                self.start()  # outside the lock: it may call the reset service
            delay = next_t - time.monotonic()
            if delay < -period:  # fell behind (suspended?): do not try to catch up tick by tick
                next_t = time.monotonic()
            self._stop.wait(max(0.0, delay))

    def _run_keyboard(self, stdin: Any) -> None:
        import termios
        import tty

        fd = stdin.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)  # keep keys typed ahead
            self.keyboard_ready.set()
            self.log.info("keys: → save and next, ← discard and re-record, Esc finish")
            while not self._stop.is_set():
                if not select.select([fd], [], [], 0.2)[0]:
                    continue
                ch = os.read(fd, 1)
                if ch != b"\x1b":
                    continue
                rest = os.read(fd, 2) if select.select([fd], [], [], 0.05)[0] else b""
                if rest == b"[C":
                    self.log.info(self.save() if self.state == "recording" else self.start())
                elif rest == b"[D":
                    if self.state == "recording":
                        self.discard()
                        if not self.auto:
                            self.start()
                elif rest == b"":
                    self.log.info(self.finish())
                    return
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

    # -------------------------------------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        rec = self.recorder
        st = rec.sync.stats
        return {"state": self.state, "episode_index": self._episode_label(), "started": self.started, "saved": self.saved,
                "discarded": self.discarded, "frames": rec.frames_in_episode, "ticks": st.ticks,
                "dropped": st.dropped, "queue_depth": rec.queue_depth(), "queue_full_drops": rec.queue_full_drops,
                "encoder_backlog": rec.encoder_backlog(), "root": str(rec.root),
                "error": repr(rec.error) if rec.error else None}  # fmt: skip

    def publish_status(self) -> None:
        with contextlib.suppress(Exception):  # never fail the timer
            self.status_pub.publish(make("std_msgs/msg/String", data=json.dumps(self.status())))

    def close(self) -> None:
        """Stop the threads; an unsaved episode is discarded and the dataset finalized."""
        self._stop.set()
        self._clock.join(timeout=5)
        if self._keyboard is not None and self._keyboard is not threading.current_thread():
            self._keyboard.join(timeout=5)
        with self._lock:
            if self.state not in ("finishing", "finished"):
                if self.state == "recording":
                    self.recorder.discard_episode()
                self.recorder.finish(wait=True)
                self.state = "finished"
        self.recorder.close()


def main(argv: list[str] | None = None) -> int:
    node = Node("recorder", argv=sys.argv[1:] if argv is None else argv)
    try:
        recorder = RecorderNode(node)
    except Exception as exc:
        node.get_logger().error(f"cannot start: {exc}")
        node.destroy()
        shutdown_backends()
        return 1
    code = 0
    try:
        spin(node)
    finally:
        # wait for a finish in progress, else discard the unsaved episode and finalize
        deadline = time.monotonic() + 300
        while recorder.state == "finishing" and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            recorder.close()
        except Exception as exc:
            node.get_logger().error(f"closing the recorder: {exc}")
            code = 1
        node.destroy()
        shutdown_backends()
    return code if recorder.recorder.error is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
