"""The simulated SO-101 pick-and-place task in MuJoCo: physics, cameras, success signal, scripted expert.

A node (or any loop) drives it like the real arm::

    sim = SO101Sim(SO101SimConfig(seed=3))
    sim.reset()
    while not sim.success():
        sim.step(sim.expert_action())          # radians, one control period (1/fps)
        q = sim.joint_positions()              # radians, JOINT_NAMES order
        img = sim.render("front")              # HxWx3 uint8

Rendering is headless: importing ``lerobot_core.sim`` sets ``MUJOCO_GL=osmesa`` unless it is already set.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mujoco
import numpy as np

from lerobot_core.robots.so101_model import JOINT_NAMES
from lerobot_core.sim import scene

DEFAULT_TASK = "Pick up the red cube and place it in the blue bin."
HOME_POSE = (0.0, -1.0, 1.2, 1.3, 0.0, 0.0)


@dataclass
class SimCameraConfig:
    """One rendered camera: ``name`` is ``front`` (fixed) or ``wrist`` (on the gripper)."""

    name: str = "front"
    height: int = 480
    width: int = 640


@dataclass
class SO101SimConfig:
    seed: int = 0
    fps: int = 30
    physics_substeps: int = 16  # physics steps per control period
    task: str = DEFAULT_TASK
    episode_time_s: float = 10.0
    cameras: list[SimCameraConfig] = field(
        default_factory=lambda: [SimCameraConfig("front"), SimCameraConfig("wrist")]
    )
    cube_x_range: tuple[float, float] = (0.15, 0.22)
    cube_y_range: tuple[float, float] = (-0.1, 0.03)
    cube_yaw_range: tuple[float, float] = (-0.6, 0.6)
    # Multisample anti-aliasing of rendered images; 0 (off) renders about 3x faster with OSMesa.
    render_samples: int = 0


class SO101Sim:
    """The scene, stepped at ``fps`` with position actuators; all joint values in radians (REP-103)."""

    joint_names: tuple[str, ...] = JOINT_NAMES

    def __init__(self, config: SO101SimConfig | None = None) -> None:
        self.config = config or SO101SimConfig()
        if self.config.fps <= 0 or self.config.physics_substeps <= 0:
            raise ValueError("SO101SimConfig.fps and physics_substeps must be positive integers")
        for cam in self.config.cameras:
            if cam.name not in ("front", "wrist"):
                raise ValueError(f"SO101SimConfig.cameras: unknown camera {cam.name!r}; the scene has 'front' and 'wrist'")
            if cam.height <= 0 or cam.width <= 0:
                raise ValueError(f"SO101SimConfig.cameras[{cam.name!r}]: height and width must be positive, "
                                 f"got {cam.height}x{cam.width}")  # fmt: skip
        width = max([c.width for c in self.config.cameras] + [640])
        height = max([c.height for c in self.config.cameras] + [480])
        self.model = mujoco.MjModel.from_xml_string(scene.scene_xml(width, height, self.config.render_samples))
        self.model.opt.timestep = 1.0 / (self.config.fps * self.config.physics_substeps)
        self.data = mujoco.MjData(self.model)
        self._qpos_adr = np.array([self.model.jnt_qposadr[self.model.joint(n).id] for n in JOINT_NAMES])
        self._dof_adr = np.array([self.model.jnt_dofadr[self.model.joint(n).id] for n in JOINT_NAMES])
        self._ctrl_range = self.model.actuator_ctrlrange.copy()
        self._cube_qpos = self.model.jnt_qposadr[self.model.body("cube").jntadr[0]]
        self._gains = (self.model.actuator_gainprm.copy(), self.model.actuator_biasprm.copy())
        self.torque_enabled = True
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._render_lock = threading.Lock()  # one GL context per size, used by one thread at a time
        self._expert = None
        self.step_count = 0
        self.seed = self.config.seed
        self.reset(self.config.seed)

    # --- episode ---------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Arm at home, cube at a position and yaw drawn from ``seed`` (the next seed when ``None``)."""
        from lerobot_core.sim.expert import ScriptedExpert

        self.seed = self.seed + 1 if seed is None else int(seed)
        rng = np.random.default_rng(self.seed)
        cfg = self.config
        x = rng.uniform(*cfg.cube_x_range)
        y = rng.uniform(*cfg.cube_y_range)
        yaw = rng.uniform(*cfg.cube_yaw_range)
        mujoco.mj_resetData(self.model, self.data)
        self.set_torque(True)
        self.data.qpos[self._qpos_adr] = HOME_POSE
        self.data.ctrl[:] = HOME_POSE
        c = self._cube_qpos
        self.data.qpos[c : c + 3] = (x, y, scene.CUBE_HALF)
        self.data.qpos[c + 3 : c + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        mujoco.mj_forward(self.model, self.data)
        self.cube_start = np.array([x, y, scene.CUBE_HALF])
        self.cube_yaw = float(yaw)
        self.step_count = 0
        self._expert = ScriptedExpert(self)

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def time_s(self) -> float:
        return self.step_count / self.config.fps

    @property
    def episode_steps(self) -> int:
        return round(self.config.episode_time_s * self.config.fps)

    def done(self) -> bool:
        """The episode is over: success, or its time is up."""
        return self.success() or self.step_count >= self.episode_steps

    # --- control -----------------------------------------------------------------------------------------
    def step(self, action: Sequence[float] | Mapping[str, float] | np.ndarray | None = None) -> None:
        """Set joint position targets (radians, clipped to the joint limits) and advance one control period."""
        if action is not None:
            self.data.ctrl[:] = np.clip(self._as_array(action), self._ctrl_range[:, 0], self._ctrl_range[:, 1])
        mujoco.mj_step(self.model, self.data, nstep=self.config.physics_substeps)
        self.step_count += 1

    def _as_array(self, action) -> np.ndarray:
        if isinstance(action, Mapping):
            current = self.data.ctrl.copy()
            for key, value in action.items():
                name = key.removesuffix(".pos")
                if name not in JOINT_NAMES:
                    raise KeyError(f"unknown joint {key!r} in action; expected {list(JOINT_NAMES)}")
                current[JOINT_NAMES.index(name)] = float(value)
            return current
        arr = np.asarray(action, dtype=float).reshape(-1)
        if arr.shape != (len(JOINT_NAMES),):
            raise ValueError(f"action must have {len(JOINT_NAMES)} values ({list(JOINT_NAMES)}), got {arr.shape}")
        return arr

    def set_torque(self, enabled: bool) -> None:
        """Servo torque on (position control) or off (joints go limp, like a real arm)."""
        gain, bias = self._gains
        self.model.actuator_gainprm[:] = gain if enabled else 0.0
        self.model.actuator_biasprm[:] = bias if enabled else 0.0
        if enabled:  # hold where the arm is now rather than jump to a stale target
            self.data.ctrl[:] = np.clip(self.joint_positions(), self._ctrl_range[:, 0], self._ctrl_range[:, 1])
        self.torque_enabled = enabled

    def expert_action(self) -> np.ndarray:
        """The scripted expert's joint targets for the current step (radians)."""
        return self._expert.action(self.step_count)

    # --- state -------------------------------------------------------------------------------------------
    def set_joint_positions(self, positions: Sequence[float] | np.ndarray) -> None:
        """Teleport the arm (and its targets) to ``positions`` (radians) and update the kinematics."""
        q = self._as_array(positions)
        self.data.qpos[self._qpos_adr] = q
        self.data.qvel[self._dof_adr] = 0.0
        self.data.ctrl[:] = np.clip(q, self._ctrl_range[:, 0], self._ctrl_range[:, 1])
        mujoco.mj_forward(self.model, self.data)

    def body_rotation(self, name: str) -> np.ndarray:
        return self.data.body(name).xmat.reshape(3, 3).copy()

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._qpos_adr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._dof_adr].copy()

    def joint_efforts(self) -> np.ndarray:
        return self.data.actuator_force.copy()

    def commanded_positions(self) -> np.ndarray:
        return self.data.ctrl.copy()

    def cube_position(self) -> np.ndarray:
        c = self._cube_qpos
        return self.data.qpos[c : c + 3].copy()

    def tcp_position(self) -> np.ndarray:
        return self.data.site("tcp").xpos.copy()

    def body_position(self, name: str) -> np.ndarray:
        return self.data.body(name).xpos.copy()

    def success(self) -> bool:
        """The cube rests inside the bin (within the walls, below the rim)."""
        x, y, z = self.cube_position()
        bx, by = scene.BIN_CENTER
        inside = abs(x - bx) < scene.BIN_HALF and abs(y - by) < scene.BIN_HALF
        return bool(inside and z < scene.BIN_HEIGHT)

    # --- rendering ---------------------------------------------------------------------------------------
    def render(self, camera: str = "front", height: int | None = None, width: int | None = None) -> np.ndarray:
        """RGB image (HxWx3 uint8) from ``camera``; size defaults to that camera's config (else 480x640)."""
        if camera not in ("front", "wrist"):
            raise KeyError(f"unknown sim camera {camera!r}; cameras are 'front' and 'wrist'")
        cfg = next((c for c in self.config.cameras if c.name == camera), SimCameraConfig(camera))
        size = (height or cfg.height, width or cfg.width)
        with self._render_lock:
            renderer = self._renderers.get(size)
            if renderer is None:
                renderer = mujoco.Renderer(self.model, height=size[0], width=size[1])
                self._renderers[size] = renderer
            renderer.update_scene(self.data, camera=camera)
            return renderer.render()

    def camera_intrinsics(self, camera: str = "front", height: int | None = None, width: int | None = None) -> np.ndarray:
        """3x3 pinhole matrix K of a sim camera at a render size (MuJoCo's ``fovy`` is vertical; square pixels)."""
        cfg = next((c for c in self.config.cameras if c.name == camera), SimCameraConfig(camera))
        h, w = height or cfg.height, width or cfg.width
        fovy = np.deg2rad(self.model.cam_fovy[self.model.camera(camera).id])
        f = 0.5 * h / np.tan(fovy / 2)
        return np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])

    # --- robot-style interface (what a driver node wires to topics) --------------------------------------
    def get_observation(self, images: bool = True) -> dict:
        """``{"<joint>.pos": rad, ..., "<camera>": HxWx3 uint8}`` like a robot's ``get_observation()``."""
        obs: dict = {f"{n}.pos": float(v) for n, v in zip(JOINT_NAMES, self.joint_positions())}
        if images:
            for cam in self.config.cameras:
                obs[cam.name] = self.render(cam.name)
        return obs

    def send_action(self, action: Mapping[str, float]) -> dict[str, float]:
        """Set targets ``{"<joint>.pos": rad}`` (missing joints keep theirs); :meth:`step` advances time."""
        self.data.ctrl[:] = np.clip(self._as_array(action), self._ctrl_range[:, 0], self._ctrl_range[:, 1])
        return {f"{n}.pos": float(v) for n, v in zip(JOINT_NAMES, self.data.ctrl)}

    def close(self) -> None:
        with self._render_lock:
            for renderer in self._renderers.values():
                renderer.close()
            self._renderers.clear()

    def __enter__(self) -> SO101Sim:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
