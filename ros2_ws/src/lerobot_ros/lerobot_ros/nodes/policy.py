"""`policy`: a trained policy (ours or upstream LeRobot's checkpoint) drives a ROS arm.

Inputs: ``joint_states`` (``sensor_msgs/JointState``, radians) → ``observation.state`` in the checkpoint's joint
order and units; one ``Image``/``CompressedImage`` topic per image feature → RGB at the training shape; the task
from the ``task`` parameter or the ``task`` topic. Mapping and start-up checks: :mod:`.policy_io` (the node
refuses to start, and never publishes, when an input has no source or the action names are not commanded
joints).

Inference: ``lerobot_core.inference.InferenceEngine`` (background chunk inference, latency-compensated merges,
fallback ladder ``hold | repeat_last | zero``) with the local backend (the checkpoint in this process) or the
remote one (``inference: remote``, a ``lerobot-core policy-server`` over Zenoh).

Control: a steady-clock thread at the policy's ``fps`` (:class:`.policy_loop.SteadyLoop`) offers the newest
complete observation to the engine and pops one action per tick; it never waits for inference or I/O. The
action goes out as ``JointTrajectory`` (one point), ``Float64MultiArray`` or ``JointState``
(``command_type``). Observations older than ``max_observation_age_s`` start no inference and, with
``fallback_on_stale_observation``, switch the command to the fallback at once; ``hold`` commands the position
measured when the fallback began.

Services (``std_srvs/Trigger``): ``~/start``, ``~/stop`` (episode ends; nothing is published), ``~/reset``
(episode boundary), ``~/pause`` / ``~/resume`` (human intervention); ``~/estop`` (``std_srvs/SetBool``) pauses
the policy and calls ``estop_service`` (the driver's or the sim's). Topics: ``/diagnostics``, ``~/chunk_preview``
(``JointTrajectory`` of the queued chunk), ``~/ee_path`` (``visualization_msgs/MarkerArray``, forward
kinematics of the queued chunk). Parameters: ``config/policy.yaml`` and docs/policy_node.md.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from lerobot_ros.nodes.joint_control import diagnostic_status, joint_state_msg, resolve_share_file
from lerobot_ros.nodes.policy_io import (
    IMAGE_PREFIX,
    IMAGE_TYPES,
    STATE_KEY,
    CameraSource,
    FeatureMap,
    ObservationBuffer,
    PolicyStartupError,
    UnitConverter,
    check_sources,
    dataset_info,
    info_from_checkpoint,
    resize_rgb,
    resolve_names,
    to_rgb,
)
from lerobot_ros.nodes.policy_loop import SteadyLoop, percentiles
from lerobot_ros.runtime import (
    QOS_DEFAULT,
    QOS_TRANSIENT_LOCAL,
    Node,
    QoSProfile,
    Reliability,
    make,
    run_node,
)
from lerobot_ros.runtime.conversions import sec_to_stamp

__all__ = ["COMMAND_TYPES", "PolicyNode", "main"]

# command_type -> (message type, default topic)
COMMAND_TYPES = {
    "trajectory": ("trajectory_msgs/msg/JointTrajectory", "/joint_trajectory"),
    "forward": ("std_msgs/msg/Float64MultiArray", "/forward_position_controller/commands"),
    "joint_state": ("sensor_msgs/msg/JointState", "/joint_commands"),
}
STATES = ("running", "paused", "stopped", "estop")
_LATEST_ONLY = QoSProfile(depth=1, reliability=Reliability.BEST_EFFORT)  # images: only the newest matters


class _StampedBackend:
    """Wraps an inference backend to remember the observation stamp of the last reply (for the
    observation-to-command latency); everything else is passed through."""

    def __init__(self, backend: Any) -> None:
        self.inner = backend
        self.last_stamp: float | None = None

    def infer(self, request: Any, timeout_s: float) -> Any:
        reply = self.inner.infer(request, timeout_s)
        self.last_stamp = request.stamp
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class PolicyNode:
    """The policy node on ``node``. ``backend``: an inference backend to use instead of the one the parameters
    name (tests). Raises :class:`PolicyStartupError` before creating any publisher when the checkpoint does
    not fit the robot."""

    def __init__(self, node: Node, *, backend: Any = None, clock: Any = time.monotonic) -> None:
        from lerobot_core.inference import EngineConfig, InferenceEngine
        from lerobot_core.policies import PreTrainedConfig

        self.node, self.log, self.clock = node, node.get_logger(), clock
        p = node.declare_parameter
        path = p("policy_path", "", "checkpoint directory or hub repo id (ours or upstream's)")
        revision = p("policy_revision", "", "hub revision (empty: default)")
        device = p("device", "cpu", "torch device of local inference")
        fast = p("fast_inference", True, "ACT's fused inference path (same weights, float32 rounding)")
        dataset = p("dataset", "", "dataset root (or info.json) naming the features; empty: from train_config.json")
        state_names = list(p("state_names", [], "observation.state names in order (empty: dataset metadata)",
                             type_="string_array"))  # fmt: skip
        action_names = list(p("action_names", [], "action names in order (empty: dataset metadata)",
                              type_="string_array"))  # fmt: skip
        joints = list(p("joints", ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll",
                                   "gripper"], "commanded joints (Float64MultiArray order)"))  # fmt: skip
        units = p("units", "radians", "the checkpoint's joint units: radians, degrees or upstream")
        calibration_file = p("calibration_file", "", "upstream calibration JSON (units upstream; empty: URDF range)")
        state_topic = p("joint_states_topic", "/joint_states", "sensor_msgs/JointState input")
        cameras = list(p("cameras", [], "camera names (empty: one per image feature of the checkpoint)",
                         type_="string_array"))  # fmt: skip
        self.task = p("task", "", "task text (the task topic overrides it once received)")
        task_topic = p("task_topic", "/task", "std_msgs/String task topic (transient local; empty: none)")
        fps = p("fps", 0.0, "control rate (Hz; 0: the dataset's fps, else 30)")
        self.command_type = p("command_type", "trajectory", "trajectory, forward or joint_state")
        command_topic = p("command_topic", "", "command topic (empty: the command type's default)")
        traj_time = p("trajectory_time_from_start_s", -1.0, "time_from_start of the one-point trajectory (<0: a period)")
        inference = p("inference", "local", "local (this process) or remote (lerobot-core policy-server)")
        buffer_time_s = p("buffer_time_s", 0.0, "request a chunk when the queue holds this much playback "
                          "(0: half a chunk)")  # fmt: skip
        self.max_obs_age = p("max_observation_age_s", 0.5, "older observations start no inference")
        max_action_age = p("max_action_age_s", 3.0, "actions from older observations are dropped")
        fallback = p("fallback", "hold", "hold, repeat_last or zero")
        merge_mode = p("merge_mode", "replace", "replace or append (chunk merging)")
        request_timeout = p("request_timeout_s", 5.0, "one chunk request's timeout")
        max_offline = p("max_offline_s", 60.0, "remote: give up (DEAD) after this long offline")
        max_backoff = p("reconnect_max_backoff_s", 5.0, "remote: longest wait between reconnection attempts")
        self.fallback_on_stale = p("fallback_on_stale_observation", True,
                                   "stale observations switch the command to the fallback at once")  # fmt: skip
        autostart = p("autostart", True, "run at start (false: wait for ~/start)")
        estop_service = p("estop_service", "/robot_driver/estop", "std_srvs/SetBool e-stop of the driver or sim")
        switch = p("gil_switch_interval_s", 0.0005, "Python's thread switch interval for this process (0: keep); "
                   "short, so the control thread gets the GIL from the inference thread in time")
        rt_priority = p("realtime_priority", 0, "SCHED_FIFO priority of the control thread (0: off; needs "
                        "CAP_SYS_NICE or an rtprio limit)")
        diag_topic = p("diagnostics_topic", "/diagnostics", "diagnostic_msgs/DiagnosticArray topic")
        diag_period = p("diagnostics_period_s", 1.0, "diagnostics period (s)")
        preview = p("preview", True, "publish ~/chunk_preview and ~/ee_path")
        urdf = p("urdf", "so101.urdf", "URDF for the end-effector path (a path or a file in share/urdf)")
        self.ee_link = p("ee_link", "gripper_frame_link", "end-effector link of ~/ee_path")
        self.frame_id = p("frame_id", "base_link", "frame of ~/ee_path")

        if not path:
            raise PolicyStartupError("parameter policy_path is empty: give a checkpoint directory or hub repo id")
        if self.command_type not in COMMAND_TYPES:
            raise PolicyStartupError(f"command_type: expected one of {sorted(COMMAND_TYPES)}, got {self.command_type!r}")
        if inference not in ("local", "remote"):
            raise PolicyStartupError(f"inference: expected local or remote, got {inference!r}")
        kwargs = {"revision": revision} if revision else {}
        self.policy_cfg = cfg = PreTrainedConfig.from_pretrained(path, **kwargs)
        info = dataset_info(dataset) if dataset else info_from_checkpoint(path)

        # -- features -> sources; refuse before anything is published ----------------------------------------
        inputs = dict(cfg.input_features)
        state_ft = inputs.get(STATE_KEY)
        action_dim = int(cfg.action_feature.shape[0])
        names_state = (resolve_names(state_names, info, STATE_KEY, int(state_ft.shape[0]), "state")
                       if state_ft is not None else [])  # fmt: skip
        names_action = resolve_names(action_names, info, "action", action_dim, "action")
        if not cameras:
            cameras = [k[len(IMAGE_PREFIX):] for k in inputs if k.startswith(IMAGE_PREFIX)]
        sources: dict[str, CameraSource] = {}
        for cam in cameras:
            key = IMAGE_PREFIX + cam
            topic = p(f"camera.{cam}.topic", f"/{cam}/image_raw", f"image topic of {cam}")
            msg_type = p(f"camera.{cam}.type", IMAGE_TYPES[0], "sensor_msgs/msg/Image or CompressedImage")
            if msg_type not in IMAGE_TYPES:
                raise PolicyStartupError(f"camera.{cam}.type: expected one of {IMAGE_TYPES}, got {msg_type!r}")
            shape = tuple(inputs[key].shape) if key in inputs else (3, 0, 0)
            sources[key] = CameraSource(key, topic, msg_type, int(shape[-2]), int(shape[-1]))
        self.fmap = FeatureMap(STATE_KEY if state_ft is not None else None, names_state, names_action, joints,
                               sources)  # fmt: skip
        check_sources(inputs, self.fmap, command_type=self.command_type)
        calibration = None
        if calibration_file:
            from lerobot_core.motors.calibration import load_calibration

            calibration = load_calibration(calibration_file)
        self.state_units = UnitConverter(units, self.fmap.state_joints, calibration)
        self.action_units = UnitConverter(units, self.fmap.action_joints, calibration)
        self.fps = float(fps) or float((info or {}).get("fps") or 30.0)
        self.dt = 1.0 / self.fps
        self.traj_time = traj_time if traj_time >= 0 else self.dt

        # -- inference ---------------------------------------------------------------------------------------
        chunk = int(getattr(cfg, "chunk_size", 0) or getattr(cfg, "n_action_steps", 0) or getattr(cfg, "horizon", 1))
        config = EngineConfig(fps=self.fps, buffer_time_s=buffer_time_s or 0.5 * chunk * self.dt,
                              max_observation_age_s=self.max_obs_age, max_action_age_s=max_action_age,
                              fallback=fallback, merge_mode=merge_mode, request_timeout_s=request_timeout,
                              max_offline_s=max_offline, reconnect_max_backoff_s=max_backoff,
                              reconnect_initial_backoff_s=min(0.5, max_backoff))  # fmt: skip
        if backend is None:
            backend = (self._remote_backend(path, cfg, inference) if inference == "remote"
                       else self._local_backend(path, device, revision, fast))  # fmt: skip
        self.backend = _StampedBackend(backend)
        self.engine = InferenceEngine(self.backend, action_dim, config, task=self.task, clock=clock)
        self.fallback_mode = config.fallback.value
        if inference == "remote":  # a refused session is a start-up error; an absent server is retried
            from lerobot_core.inference import BackendUnavailable, ContractError

            try:
                self.engine.connect()
            except ContractError as exc:
                self.engine.stop(timeout=1.0)
                raise PolicyStartupError(f"the policy server refused this robot: {exc}") from None
            except BackendUnavailable as exc:
                self.log.warning(f"policy server not reachable yet ({exc}); retrying in the background")
        else:
            self.engine.connect()

        # -- topics --------------------------------------------------------------------------------------------
        keys = ([STATE_KEY] if state_ft is not None else []) + list(sources)
        self.buffer = ObservationBuffer(keys)
        self.lock = threading.RLock()  # state changes (services, loop)
        self.state = "running" if autostart else "stopped"
        self.counters = dict(policy_ticks=0, fallback_ticks=0, stale_ticks=0, waiting_ticks=0, published=0,
                             bad_inputs=0)  # fmt: skip
        self.transitions: deque[tuple[int, str, bool]] = deque(maxlen=100)  # (tick, command kind, stale)
        self._mode: tuple[str, bool] | None = None
        self.obs_to_command_ms: deque[float] = deque(maxlen=200)
        self._notified_seq = -1
        self._seen_merges = 0
        self._hold: np.ndarray | None = None
        self._last_command: np.ndarray | None = None
        self._last_obs_age = math.nan
        self._last_log = 0.0
        self._dead_logged = False
        msg_type, default_topic = COMMAND_TYPES[self.command_type]
        self.command_pub = node.create_publisher(msg_type, command_topic or default_topic, QOS_DEFAULT)
        self.diag_pub = node.create_publisher("diagnostic_msgs/msg/DiagnosticArray", diag_topic, QOS_DEFAULT)
        node.create_subscription("sensor_msgs/msg/JointState", state_topic, self._on_joint_state, QOS_DEFAULT)
        for src in sources.values():
            node.create_subscription(src.msg_type, src.topic, self._on_image(src), _LATEST_ONLY)
        if task_topic:
            node.create_subscription("std_msgs/msg/String", task_topic, self._on_task, QOS_TRANSIENT_LOCAL)
        for name, handler in (("start", self.srv_start), ("stop", self.srv_stop), ("reset", self.srv_reset),
                              ("pause", self.srv_pause), ("resume", self.srv_resume)):  # fmt: skip
            node.create_service("std_srvs/srv/Trigger", f"~/{name}", handler)
        node.create_service("std_srvs/srv/SetBool", "~/estop", self.srv_estop)
        self.estop_client = node.create_client("std_srvs/srv/SetBool", estop_service) if estop_service else None
        self.kinematics = self._kinematics(urdf) if preview else None
        self.preview_pub = node.create_publisher("trajectory_msgs/msg/JointTrajectory", "~/chunk_preview",
                                                 QOS_DEFAULT) if preview else None  # fmt: skip
        self.marker_pub = node.create_publisher("visualization_msgs/msg/MarkerArray", "~/ee_path", QOS_DEFAULT) \
            if self.kinematics is not None else None  # fmt: skip
        self._previewed_merges = 0
        self.loop = SteadyLoop(self.dt, self._tick, name="policy-control", realtime_priority=rt_priority)
        self.timers = [node.create_timer(diag_period, self.publish_diagnostics)]
        if preview:
            self.timers.append(node.create_timer(0.1, self.publish_preview))

        if switch > 0:
            sys.setswitchinterval(min(sys.getswitchinterval(), switch))
        self.engine.start(connect=False)
        self.loop.start()
        self.log.info(f"policy {path} ({getattr(cfg, 'type', '?')}, {inference}) at {self.fps:g} Hz: state "
                      f"{self.fmap.state_joints} [{units}] from {state_topic}, cameras "
                      f"{ {k[len(IMAGE_PREFIX):]: s.topic for k, s in sources.items()} } -> {self.command_type} on "
                      f"{command_topic or default_topic}; {self.state}")

    # -- construction helpers -------------------------------------------------------------------------------
    def _local_backend(self, path: str, device: str, revision: str, fast: bool) -> Any:
        from lerobot_core.inference import LocalPolicyBackend

        backend = LocalPolicyBackend.from_pretrained(path, device=device or None, revision=revision or None)
        if fast and hasattr(backend.policy, "fast_inference"):
            backend.policy.fast_inference = True
        return backend

    def _remote_backend(self, path: str, cfg: Any, inference: str) -> Any:
        from lerobot_core.inference.remote import RemoteInferenceConfig, RemotePolicyBackend

        p = self.node.declare_parameter
        remote = RemoteInferenceConfig(
            connect_endpoint=p("remote.endpoint", "tcp/localhost:7447", "Zenoh endpoint of the server's router"),
            zenoh_mode=p("remote.zenoh_mode", "client", "client (through a router) or peer"),
            service_model_id=p("remote.model_id", "", "the server's --model.repo_or_path (empty: policy_path)")
            or path,
            service_revision=p("remote.revision", "main", "the server's model revision"),
            service_task=p("remote.service", "", "the server's service name / default task"),
            jpeg_quality=p("remote.jpeg_quality", 90, "JPEG quality of sent images (0: raw pixels)"),
        )
        return RemotePolicyBackend(remote, action_names=list(self.fmap.action_names),
                                   camera_names=sorted(self.fmap.cameras),
                                   state_dim=len(self.fmap.state_names), fps=self.fps, task=self.task,
                                   policy_type=str(getattr(cfg, "type", "")))  # fmt: skip

    def _kinematics(self, urdf: str) -> Any:
        try:
            from lerobot_core.robots.kinematics import UrdfModel

            model = UrdfModel.from_file(resolve_share_file(urdf, "urdf"))
            if self.ee_link not in model.forward_kinematics({}):
                raise ValueError(f"no link {self.ee_link!r}")
            return model
        except Exception as exc:  # the preview is optional: no FK, no markers
            self.log.warning(f"no end-effector path markers ({exc})")
            return None

    # -- inputs (executor thread) ---------------------------------------------------------------------------
    def _bad_input(self, what: str, exc: Exception) -> None:
        self.counters["bad_inputs"] += 1
        if time.monotonic() - self._last_log > 1.0:
            self._last_log = time.monotonic()
            self.log.warning(f"{what} ignored ({self.counters['bad_inputs']} so far): {exc}")

    def _on_joint_state(self, msg: Any) -> None:
        now = self.clock()
        positions = {str(n): float(v) for n, v in zip(msg.name, msg.position)}
        self.buffer.put_positions(positions)
        if self.fmap.state_key is None:
            return
        try:
            rad = np.array([positions[j] for j in self.fmap.state_joints])
        except KeyError as exc:
            self._bad_input("joint_states without a state joint", KeyError(f"{exc} not in {list(msg.name)}"))
            return
        self.buffer.put(STATE_KEY, self.state_units.to_policy(rad), now)

    def _on_image(self, src: CameraSource) -> Any:
        def callback(msg: Any) -> None:
            now = self.clock()
            try:
                image = resize_rgb(to_rgb(msg, src.msg_type), src.height, src.width)
            except (ValueError, ImportError) as exc:
                self._bad_input(f"{src.topic} frame", exc)
                return
            self.buffer.put(src.key, image, now)

        return callback

    def _on_task(self, msg: Any) -> None:
        self.task = str(msg.data)
        self.engine.task = self.task

    # -- control loop (its own thread) -----------------------------------------------------------------------
    def _tick(self, index: int, deadline: float) -> None:
        now = self.clock()
        with self.lock:
            if self.state != "running":
                return
            snap = self.buffer.snapshot()
            if snap is None:  # an input never arrived: the robot is not moved
                self.counters["waiting_ticks"] += 1
                return
            self._last_obs_age = age = now - snap.oldest
            stale = age > self.max_obs_age
            if stale:
                self.counters["stale_ticks"] += 1
            elif snap.seq != self._notified_seq:
                self._notified_seq = snap.seq
                self.engine.notify_observation(snap.data, self.task, stamp=snap.oldest)
            popped = self.engine.pop_action(now)
            if popped.kind == "policy" and not (stale and self.fallback_on_stale):
                command, kind = self.action_units.to_radians(popped.values), "policy"
                self._hold = None
                self.counters["policy_ticks"] += 1
                merges = self.engine.counters["merges"]
                if merges != self._seen_merges and self.backend.last_stamp is not None:
                    self._seen_merges = merges
                    self.obs_to_command_ms.append((now - self.backend.last_stamp) * 1e3)
            else:
                command, kind = self._fallback(snap.positions), "fallback"
                self.counters["fallback_ticks"] += 1
            if self._mode != (kind, stale):
                self._mode = (kind, stale)
                self.transitions.append((index, kind, stale))
            if command is None:
                return
            self._publish(command)
            self._last_command = command

    def _fallback(self, positions: dict[str, float]) -> np.ndarray | None:
        """The fallback command (radians, action joint order) for this tick."""
        if self.fallback_mode == "zero":
            return self.action_units.to_radians(np.zeros(len(self.fmap.action_joints)))
        if self.fallback_mode == "repeat_last" and self._last_command is not None:
            return self._last_command
        if self._hold is None:  # hold: the position measured when the fallback began
            try:
                self._hold = np.array([positions[j] for j in self.fmap.action_joints])
            except KeyError:
                return None
        return self._hold

    def _publish(self, radians: np.ndarray) -> None:
        joints = self.fmap.action_joints
        if self.command_type == "trajectory":
            point = make("trajectory_msgs/msg/JointTrajectoryPoint", positions=np.asarray(radians, np.float64),
                         time_from_start=_duration(self.traj_time))  # fmt: skip
            msg = make("trajectory_msgs/msg/JointTrajectory", joint_names=list(joints), points=[point])
        elif self.command_type == "forward":
            by_name = dict(zip(joints, radians))
            msg = make("std_msgs/msg/Float64MultiArray",
                       data=np.array([by_name[j] for j in self.fmap.commanded_joints], np.float64))  # fmt: skip
        else:
            msg = joint_state_msg(joints, radians, None, time.time())
        self.command_pub.publish(msg)
        self.counters["published"] += 1

    # -- services (service thread) ---------------------------------------------------------------------------
    def _set_state(self, state: str, message: str) -> Any:
        self.state = state
        self.log.info(message)
        return make("std_srvs/srv/Trigger_Response", success=True, message=message)

    def srv_start(self, _req: Any = None) -> Any:
        with self.lock:
            if self.state == "running":
                return make("std_srvs/srv/Trigger_Response", success=True, message="already running")
            self.engine.reset()
            self.engine.resume()
            self._hold = None
            return self._set_state("running", "policy started (new episode)")

    def srv_stop(self, _req: Any = None) -> Any:
        with self.lock:
            self.engine.pause()
            self.engine.reset()
            return self._set_state("stopped", "policy stopped (episode ended; no commands)")

    def srv_reset(self, _req: Any = None) -> Any:
        with self.lock:
            self.engine.reset()
            self._hold = None
            self._last_command = None
        self.log.info("episode reset")
        return make("std_srvs/srv/Trigger_Response", success=True, message="episode reset")

    def srv_pause(self, _req: Any = None) -> Any:
        with self.lock:
            if self.state not in ("running", "paused"):
                return make("std_srvs/srv/Trigger_Response", success=False, message=f"cannot pause: {self.state}")
            self.engine.pause()
            return self._set_state("paused", "policy paused (no commands until ~/resume)")

    def srv_resume(self, _req: Any = None) -> Any:
        with self.lock:
            if self.state != "paused":
                return make("std_srvs/srv/Trigger_Response", success=False,
                            message=f"cannot resume from {self.state} (use ~/start)")  # fmt: skip
            self.engine.resume()
            self._hold = None
            return self._set_state("running", "policy resumed")

    def srv_estop(self, req: Any) -> Any:
        engage = bool(req.data)
        with self.lock:
            if engage:
                self.engine.pause()
                self.state = "estop"
            elif self.state == "estop":
                self.state = "paused"
        ok, message = True, "e-stop engaged: policy halted" if engage else "e-stop released: policy paused (~/resume)"
        if self.estop_client is not None:
            try:
                resp = self.estop_client.call(make("std_srvs/srv/SetBool_Request", data=engage), timeout_s=2.0)
                ok, message = bool(resp.success), f"{message}; {self.estop_client.name}: {resp.message}"
            except Exception as exc:
                ok, message = (not engage), f"{message}; the driver's e-stop service failed: {exc}"
        (self.log.warning if engage else self.log.info)(message)
        return make("std_srvs/srv/SetBool_Response", success=ok, message=message)

    # -- diagnostics and preview (executor thread) -----------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Everything on the diagnostics topic, as numbers."""
        engine = self.engine.stats()
        o2c = percentiles(self.obs_to_command_ms)
        return dict(state=self.state, engine_state=engine["state"], **self.loop.stats(),
                    inference_latency_ms_p50=engine["latency_ms_p50"], inference_latency_ms_p99=engine["latency_ms_p99"],
                    compute_ms_p50=engine["inference_ms_p50"], compute_ms_p99=engine["inference_ms_p99"],
                    queue_depth=engine["queue_depth"], starvation=engine["starvation"], merges=engine["merges"],
                    requests=engine["requests"], timeouts=engine["timeouts"], reconnects=engine["reconnects"],
                    stale_actions=engine["stale_actions"], observation_age_ms=self._last_obs_age * 1e3,
                    obs_to_command_ms_p50=o2c[0], obs_to_command_ms_p99=o2c[1],
                    waiting_for=",".join(self.buffer.missing()), **self.counters)  # fmt: skip

    def publish_diagnostics(self) -> None:
        values = self.stats()
        if self.engine.failed:
            level, message = 2, "inference engine DEAD (see the log); holding"
            if not self._dead_logged:
                self._dead_logged = True
                self.log.error("inference engine DEAD: the policy only sends the fallback now")
        elif self.state != "running":
            level, message = 1, self.state
        elif values["waiting_for"]:
            level, message = 1, f"waiting for {values['waiting_for']}"
        elif values["observation_age_ms"] > self.max_obs_age * 1e3:
            level, message = 1, "stale observations: fallback"
        else:
            level, message = 0, f"running ({values['engine_state']})"
        status = diagnostic_status(f"{self.node.fully_qualified_name}: policy", "policy", level, message, values)
        header = make("std_msgs/msg/Header", stamp=sec_to_stamp(time.time()))
        self.diag_pub.publish(make("diagnostic_msgs/msg/DiagnosticArray", header=header, status=[status]))

    def publish_preview(self) -> None:
        merges = self.engine.counters["merges"]
        if merges == self._previewed_merges:
            return
        self._previewed_merges = merges
        _model, robot = self.engine.queue.contents()
        if not len(robot):
            return
        radians = [self.action_units.to_radians(row) for row in robot]
        stamp = sec_to_stamp(time.time())
        points = [make("trajectory_msgs/msg/JointTrajectoryPoint", positions=np.asarray(r, np.float64),
                       time_from_start=_duration((i + 1) * self.dt)) for i, r in enumerate(radians)]  # fmt: skip
        self.preview_pub.publish(make("trajectory_msgs/msg/JointTrajectory", joint_names=self.fmap.action_joints,
                                      points=points, header=make("std_msgs/msg/Header", stamp=stamp,
                                                                 frame_id=self.frame_id)))  # fmt: skip
        if self.marker_pub is not None:
            self.marker_pub.publish(self._ee_path(radians, stamp))

    def _ee_path(self, radians: list[np.ndarray], stamp: Any) -> Any:
        base = self.buffer.positions()
        pts = []
        for row in radians:
            q = {**base, **dict(zip(self.fmap.action_joints, map(float, row)))}
            pose = self.kinematics.forward_kinematics(q)[self.ee_link]
            pts.append(make("geometry_msgs/msg/Point", x=float(pose[0, 3]), y=float(pose[1, 3]), z=float(pose[2, 3])))
        header = make("std_msgs/msg/Header", stamp=stamp, frame_id=self.frame_id)
        line = make("visualization_msgs/msg/Marker", header=header, ns="policy_ee_path", id=0, type=4, action=0,
                    pose=make("geometry_msgs/msg/Pose", orientation=make("geometry_msgs/msg/Quaternion", w=1.0)),
                    scale=make("geometry_msgs/msg/Vector3", x=0.004),
                    color=make("std_msgs/msg/ColorRGBA", r=0.1, g=0.8, b=0.2, a=1.0), points=pts)  # fmt: skip
        return make("visualization_msgs/msg/MarkerArray", markers=[line])

    # -- lifecycle ------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the control loop, the timers and the inference engine (call before destroying the node)."""
        self.loop.stop()
        for timer in self.timers:
            timer.cancel()
        self.engine.stop(timeout=2.0)


def _duration(seconds: float) -> Any:
    ns = round(seconds * 1e9)
    return make("builtin_interfaces/msg/Duration", sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def main(argv: list[str] | None = None) -> int:
    return run_node("policy", PolicyNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
