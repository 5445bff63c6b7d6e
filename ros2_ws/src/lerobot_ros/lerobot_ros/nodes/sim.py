"""`sim`: the simulated SO-101 pick-and-place scene (MuJoCo) as the same ROS interface as the real arm.

Downstream nodes cannot tell it from ``robot_driver`` + ``camera`` nodes: it publishes ``joint_states``
(``sensor_msgs/JointState``, radians, stamped), ``<camera>/image_raw`` + ``<camera>/camera_info`` for each
rendered camera (``front``, ``wrist``; frame ids ``<camera>_camera``), and takes the same commands through the
same safety gate (``joint_commands``, ``forward_position_controller/commands``, ``joint_trajectory``; see
:mod:`.joint_control`). It adds ``task`` (``std_msgs/String``, transient local) and ``success``
(``std_msgs/Bool``, every step), a ``~/reset`` service (``std_srvs/Trigger``: next seed) and the driver's
``~/estop`` service.

``scripted_teleop: true`` plays the scripted expert as a human on a leader arm would: its joint targets are
published on ``joint_commands`` (what a ``teleop`` node publishes) and drive the arm; each episode lasts
``episode_time_s`` and the next one (next seed) starts after ``reset_pause_s``.

Parameters (see ``config/so101_sim.yaml``): ``seed``, ``fps`` (control rate), ``physics_substeps``,
``joint_names``, ``joint_lower_limits``/``joint_upper_limits``, ``cameras``, ``camera_width``/``camera_height``,
``camera_fps`` (0: every step), ``publish_compressed``, ``task``, ``episode_time_s``, ``scripted_teleop``,
``auto_reset``, ``reset_pause_s``, ``max_relative_target``, ``command_timeout_s`` (0: off), ``frame_id``,
``<role>_topic``. The gate is the core ``JointDriver`` on a ``SimBackend``, as the real driver's.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from lerobot_ros.nodes.camera_publisher import CameraPublisher
from lerobot_ros.nodes.joint_control import (
    JointCommands,
    declare_topics,
    joint_driver_from_params,
    joint_state_msg,
)
from lerobot_ros.runtime import QOS_DEFAULT, QOS_TRANSIENT_LOCAL, Node, make, spin

__all__ = ["SimNode", "main"]


class SimNode:
    """The simulation loop on ``node`` (stepped by a timer at ``fps``)."""

    def __init__(self, node: Node) -> None:
        from lerobot_core.sim.env import DEFAULT_TASK, SimCameraConfig, SO101Sim, SO101SimConfig

        self.node = node
        p = node.declare_parameter
        seed = p("seed", 0, "seed of the first episode (cube pose); each reset takes the next")
        self.fps = p("fps", 30, "control, joint_states and camera rate (Hz)")
        substeps = p("physics_substeps", 16, "physics steps per control period")
        self.joint_names = list(p("joint_names", ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex",
                                                  "wrist_roll", "gripper"], "joint names (the SO-101's)"))  # fmt: skip
        cameras = list(p("cameras", ["front", "wrist"], "rendered cameras (front, wrist)"))
        width = p("camera_width", 640, "rendered image width")
        height = p("camera_height", 480, "rendered image height")
        camera_fps = p("camera_fps", 0.0, "camera rate (Hz; 0: every control step)")
        compressed = p("publish_compressed", False, "also publish <camera>/image_raw/compressed (JPEG)")
        task = p("task", DEFAULT_TASK, "task text published on `task`")
        episode_time_s = p("episode_time_s", 10.0, "episode length (scripted teleop)")
        self.scripted = p("scripted_teleop", False, "the scripted expert publishes joint_commands as a leader would")
        self.auto_reset = p("auto_reset", self.scripted, "start the next episode when one ends")
        self.reset_pause_s = p("reset_pause_s", 1.0, "pause between episodes (s)")
        self.frame_id = p("frame_id", "base_link", "header frame of joint_states")
        topics = declare_topics(node)
        if self.fps <= 0 or substeps <= 0:
            raise ValueError(f"parameters fps and physics_substeps must be > 0, got {self.fps} and {substeps}")
        config = SO101SimConfig(seed=seed, fps=self.fps, physics_substeps=substeps, task=task,
                                episode_time_s=episode_time_s,
                                cameras=[SimCameraConfig(c, height, width) for c in cameras])  # fmt: skip
        self.sim = SO101Sim(config)
        if list(self.sim.joint_names) != self.joint_names:
            raise ValueError(f"joint_names must be the simulated arm's {list(self.sim.joint_names)}, got {self.joint_names}")
        from lerobot_core.robots.driver import SimBackend

        self.lock = threading.RLock()
        self.driver = joint_driver_from_params(node, SimBackend(self.sim), self.joint_names, 0.0)
        self.commands = JointCommands(node, self.driver, topics, self.lock)
        self.state_pub = node.create_publisher("sensor_msgs/msg/JointState", topics["joint_states"], QOS_DEFAULT)
        self.command_pub = (node.create_publisher("sensor_msgs/msg/JointState", topics["joint_commands"], QOS_DEFAULT)
                            if self.scripted else None)  # fmt: skip
        self.task_pub = node.create_publisher("std_msgs/msg/String", "task", QOS_TRANSIENT_LOCAL)
        self.success_pub = node.create_publisher("std_msgs/msg/Bool", "success", QOS_DEFAULT)
        self.cameras = {
            name: CameraPublisher(node, name, f"{name}_camera", fovy_deg=float(self.sim.model.cam_fovy[
                self.sim.model.camera(name).id]), compressed=compressed)
            for name in cameras
        }  # fmt: skip
        self.camera_period = 1.0 / camera_fps if camera_fps > 0 else 0.0
        self._next_frame = 0.0
        node.create_service("std_srvs/srv/Trigger", "~/reset", self._on_reset)
        node.create_service("std_srvs/srv/SetBool", "~/estop", self._on_estop)
        self._reset_requested = threading.Event()
        self._episode_end: float | None = None
        self.episodes = 1
        self.steps = 0
        self._closed = False
        self.publish_task()
        self.timer = node.create_timer(1.0 / self.fps, self.step)
        mode = "scripted teleop" if self.scripted else "commands from topics"
        node.get_logger().info(f"SO-101 sim (seed {self.sim.seed}, {mode}) at {self.fps} Hz, cameras {cameras} "
                               f"{width}x{height}")  # fmt: skip

    def publish_task(self) -> None:
        self.task_pub.publish(make("std_msgs/msg/String", data=self.sim.task))

    # --- loop ----------------------------------------------------------------------------------------------
    def step(self) -> None:
        """One control period: physics, then the gate (read, clip, write targets), joint_states, cameras, success."""
        with self.lock:
            if self._closed:
                return
            sim = self.sim
            if self._reset_requested.is_set() or self._due_for_reset():
                self._reset_requested.clear()
                self.reset()
            sim.step()
            if self.scripted and not self._episode_over():  # the expert commands as a leader arm would
                action = sim.expert_action()
                self.command_pub.publish(joint_state_msg(self.joint_names, action, None, time.time()))
                self.driver.command_positions(action)
            sample = self.driver.update()
            self.steps += 1
            self.state_pub.publish(joint_state_msg(sample.names, sample.positions, sample.velocities, sample.stamp,
                                                   self.frame_id))  # fmt: skip
            if self.cameras and time.monotonic() >= self._next_frame:
                now = time.monotonic()
                self._next_frame = max(self._next_frame + self.camera_period, now) if self.camera_period else 0.0
                for name, publisher in self.cameras.items():
                    publisher.publish(sim.render(name), sample.stamp)
            self.success_pub.publish(make("std_msgs/msg/Bool", data=sim.success()))

    def _episode_over(self) -> bool:
        return self.sim.step_count >= self.sim.episode_steps

    def _due_for_reset(self) -> bool:
        if not self.auto_reset or not self._episode_over():
            return False
        now = time.monotonic()
        if self._episode_end is None:
            self._episode_end = now
            self.node.get_logger().info(f"episode {self.episodes} over (success: {self.sim.success()})")
        return now - self._episode_end >= self.reset_pause_s

    def reset(self) -> None:
        self.sim.reset()
        self._episode_end = None
        self.episodes += 1
        self.driver.command_positions(self.sim.joint_positions())  # start from the home pose
        self.publish_task()
        self.node.get_logger().info(f"episode {self.episodes} (seed {self.sim.seed})")

    # --- services ------------------------------------------------------------------------------------------
    def _on_reset(self, _request: Any) -> Any:
        self._reset_requested.set()
        return make("std_srvs/srv/Trigger_Response", success=True, message="the next episode starts")

    def _on_estop(self, request: Any) -> Any:
        with self.lock:
            (self.driver.estop if request.data else self.driver.release_estop)()
        return make("std_srvs/srv/SetBool_Response", success=True,
                    message="e-stop engaged" if request.data else "e-stop released")  # fmt: skip

    def stop(self) -> None:
        """Stop the loop (waits for a running step); call before destroying the node."""
        self.timer.cancel()
        with self.lock:
            self._closed = True

    def close(self) -> None:
        """Stop the loop and free the renderers (after the node's executor is gone: GL contexts are per thread)."""
        self.stop()
        self.sim.close()


def main(argv: list[str] | None = None) -> int:
    node = Node("sim", argv=sys.argv[1:] if argv is None else argv)
    try:
        sim = SimNode(node)
    except Exception as exc:
        node.get_logger().error(f"cannot start: {exc}")
        node.destroy()
        return 1
    try:
        spin(node)
    finally:
        sim.stop()
        node.destroy()  # joins the executor before the renderers go
        sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
