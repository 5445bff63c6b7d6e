"""`keyboard_teleop`: jog the arm's joints from the keyboard; commands go where a leader arm's would.

Run it in a terminal (``lerobot-ros run keyboard_teleop`` or ``ros2 run lerobot_ros keyboard_teleop``): it starts
from the follower's ``joint_states`` and publishes ``sensor_msgs/JointState`` targets on ``command_topic``
(default ``joint_commands``) at ``rate_hz``, so the driver's watchdog stays satisfied while you hold still.

Keys (``step`` radians per press, default 0.05): ``q``/``a`` shoulder_pan ±, ``w``/``s`` shoulder_lift ±,
``e``/``d`` elbow_flex ±, ``r``/``f`` wrist_flex ±, ``t``/``g`` wrist_roll ±, ``y``/``h`` gripper ±,
``space`` back to the follower's present pose, ``x`` (or end of input) quits.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from typing import IO, Any

import numpy as np

from lerobot_ros.nodes.joint_control import joint_state_msg
from lerobot_ros.runtime import QOS_DEFAULT, Node, request_shutdown, run_node

__all__ = ["KEYS", "KeyboardTeleop", "main"]

KEYS = "qwertyasdfgh"  # first row: + for joints 0..5; second row: -


class KeyboardTeleop:
    def __init__(self, node: Node, stream: IO[str] | None = None) -> None:
        self.node = node
        p = node.declare_parameter
        self.joint_names = list(p("joint_names", ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex",
                                                  "wrist_roll", "gripper"], "joints the keys move, in key order"))
        rate = p("rate_hz", 30.0, "command rate (Hz)")
        self.step_rad = p("step", 0.05, "radians per key press")
        command_topic = p("command_topic", "joint_commands", "where the commands go")
        states_topic = p("joint_states_topic", "joint_states", "the follower's joint states")
        if len(self.joint_names) > 6:
            raise ValueError(f"keyboard_teleop moves at most 6 joints, got {self.joint_names}")
        self.pub = node.create_publisher("sensor_msgs/msg/JointState", command_topic, QOS_DEFAULT)
        node.create_subscription("sensor_msgs/msg/JointState", states_topic, self._on_state, QOS_DEFAULT)
        self.present: np.ndarray | None = None
        self.target: np.ndarray | None = None
        self.lock = threading.Lock()
        self.published = 0
        self.stream = stream if stream is not None else sys.stdin
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_keys, name="keyboard", daemon=True)
        self._reader.start()
        self.timer = node.create_timer(1.0 / rate, self._publish)
        node.get_logger().info("keys: q/a w/s e/d r/f t/g y/h move joints 1-6 (+/-), space: re-sync, x: quit")

    def _on_state(self, msg: Any) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if all(n in index for n in self.joint_names):
            with self.lock:
                self.present = np.array([msg.position[index[n]] for n in self.joint_names], float)
                if self.target is None:
                    self.target = self.present.copy()

    def press(self, key: str) -> None:
        """Apply one key (also what the reader thread calls)."""
        with self.lock:
            if key == " " and self.present is not None:
                self.target = self.present.copy()
                return
            pos = KEYS.find(key.lower())
            if pos < 0 or self.target is None:
                return
            joint = pos % 6
            if joint < len(self.joint_names):
                self.target[joint] += self.step_rad if pos < 6 else -self.step_rad

    def _read_keys(self) -> None:
        fd = self.stream.fileno() if hasattr(self.stream, "fileno") else None
        restore = None
        if fd is not None and os.isatty(fd):  # one key at a time, no echo
            import termios
            import tty

            saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)

            def restore() -> None:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        try:
            while not self._stop.is_set():
                if fd is not None:
                    ready, _, _ = select.select([fd], [], [], 0.1)
                    if not ready:
                        continue
                    data = os.read(fd, 32).decode(errors="ignore")
                else:
                    data = self.stream.read(1)
                if not data or "x" in data:
                    request_shutdown()
                    return
                for key in data:
                    self.press(key)
        finally:
            if restore is not None:
                restore()

    def _publish(self) -> None:
        with self.lock:
            target = None if self.target is None else self.target.copy()
        if target is not None:
            self.pub.publish(joint_state_msg(self.joint_names, target, None, time.time()))
            self.published += 1

    def close(self) -> None:
        self._stop.set()
        self.timer.cancel()
        with contextlib.suppress(RuntimeError):
            self._reader.join(timeout=1.0)


def main(argv: list[str] | None = None) -> int:
    return run_node("keyboard_teleop", KeyboardTeleop, argv)


if __name__ == "__main__":
    raise SystemExit(main())
