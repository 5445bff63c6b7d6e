"""Scripted pick-and-place expert: joint-space waypoints from inverse kinematics, planned once per episode.

The plan depends only on the cube pose drawn from the seed, so an episode is reproducible step for step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from lerobot_core.sim import scene

if TYPE_CHECKING:
    from lerobot_core.sim.env import SO101Sim

GRIPPER_OPEN = 1.0
GRIPPER_CLOSED = -0.15
GRASP_HEIGHT = 0.018  # TCP height at the grasp (cube centre at 0.015)
CARRY_HEIGHT = 0.08
RELEASE_HEIGHT = 0.09
FIXED_JAW_CLEARANCE = 0.005
ARM_JOINTS = 5  # IK moves the five arm joints; the gripper is scripted


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


class InverseKinematics:
    """Damped least squares on three TCP sites: position, tool axis pointing down, jaw axis yaw.

    The position is weighted above the orientation, so near the edge of the workspace the tool tilts a
    little instead of missing the target.
    """

    def __init__(self, model: mujoco.MjModel, qpos_adr: np.ndarray, dof_adr: np.ndarray) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.qpos_adr = qpos_adr[:ARM_JOINTS]
        self.dof_adr = dof_adr[:ARM_JOINTS]
        self.lower = model.jnt_range[[model.dof_jntid[d] for d in self.dof_adr], 0]
        self.upper = model.jnt_range[[model.dof_jntid[d] for d in self.dof_adr], 1]
        self.sites = [model.site(n).id for n in ("tcp", "tcp_back", "tcp_side")]

    def solve(self, target: np.ndarray, jaw_yaw: float, q0: np.ndarray, iterations: int = 200) -> np.ndarray:
        goals = [
            target,
            target + np.array([0.0, 0.0, 0.05]),
            target + 0.03 * np.array([math.cos(jaw_yaw), math.sin(jaw_yaw), 0.0]),
        ]
        q = np.array(q0[:ARM_JOINTS], dtype=float)
        jac = np.zeros((3, self.model.nv))
        for _ in range(iterations):
            self.data.qpos[self.qpos_adr] = q
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_comPos(self.model, self.data)
            err, rows = [], []
            for site, goal, weight in zip(self.sites, goals, (1.0, 0.3, 0.3)):
                err.append(weight * (goal - self.data.site_xpos[site]))
                mujoco.mj_jacSite(self.model, self.data, jac, None, site)
                rows.append(weight * jac[:, self.dof_adr])
            e, j = np.concatenate(err), np.vstack(rows)
            if np.linalg.norm(e) < 1e-5:
                break
            dq = j.T @ np.linalg.solve(j @ j.T + 1e-4 * np.eye(len(e)), e)
            q = np.clip(q + dq, self.lower, self.upper)
        return q


class ScriptedExpert:
    """Waypoints: above cube → down → close → lift → above bin → lower → open → home."""

    def __init__(self, sim: SO101Sim) -> None:
        from lerobot_core.sim.env import HOME_POSE

        ik = InverseKinematics(sim.model, sim._qpos_adr, sim._dof_adr)
        cube, yaw = sim.cube_start, sim.cube_yaw
        home = np.array(HOME_POSE, dtype=float)
        pan = math.atan2(cube[1], cube[0])
        natural = pan + math.pi / 2  # jaw axis yaw with wrist_roll = 0 and the tool pointing down
        jaw_yaw = min((yaw + k * math.pi / 2 for k in range(-4, 5)), key=lambda a: abs(_wrap(a - natural)))
        bx, by = scene.BIN_CENTER
        bin_yaw = math.atan2(by, bx) + math.pi / 2

        def pose(xyz, jaw, grip, seed_q) -> np.ndarray:
            arm = ik.solve(np.asarray(xyz, dtype=float), jaw, seed_q)
            return np.concatenate([arm, [grip]])

        # Aim the TCP a little toward the fixed jaw's side of the cube so the fixed jaw clears it.
        gx = cube[0] - FIXED_JAW_CLEARANCE * math.cos(jaw_yaw)
        gy = cube[1] - FIXED_JAW_CLEARANCE * math.sin(jaw_yaw)
        above = pose((gx, gy, CARRY_HEIGHT), jaw_yaw, GRIPPER_OPEN, home)
        grasp = pose((gx, gy, GRASP_HEIGHT), jaw_yaw, GRIPPER_OPEN, above)
        closed = grasp.copy()
        closed[-1] = GRIPPER_CLOSED
        lifted = pose((gx, gy, CARRY_HEIGHT), jaw_yaw, GRIPPER_CLOSED, grasp)
        over_bin = pose((bx, by, CARRY_HEIGHT + 0.02), bin_yaw, GRIPPER_CLOSED, lifted)
        release = pose((bx, by, RELEASE_HEIGHT), bin_yaw, GRIPPER_CLOSED, over_bin)
        opened = release.copy()
        opened[-1] = GRIPPER_OPEN
        fps = sim.config.fps
        # (target, seconds to reach it)
        self.segments = [
            (above, 1.5), (grasp, 1.0), (closed, 0.5), (closed, 0.3), (lifted, 1.0),
            (over_bin, 1.5), (release, 0.5), (opened, 0.4), (opened, 0.3), (home, 1.2),
        ]  # fmt: skip
        self._waypoints = [home]
        self._ends = []
        t = 0
        for target, seconds in self.segments:
            t += max(1, round(seconds * fps))
            self._ends.append(t)
            self._waypoints.append(target)

    @property
    def duration_steps(self) -> int:
        return self._ends[-1]

    def action(self, step: int) -> np.ndarray:
        """Joint targets for control step ``step`` (smooth-step interpolation between waypoints)."""
        start = 0
        for i, end in enumerate(self._ends):
            if step < end:
                t = (step + 1 - start) / (end - start)
                s = t * t * (3 - 2 * t)
                return (1 - s) * self._waypoints[i] + s * self._waypoints[i + 1]
            start = end
        return self._waypoints[-1].copy()


class ScriptedTeleop:
    """The expert seen as a leader arm: ``get_action()`` gives ``{"<joint>.pos": rad}`` for the sim's step."""

    def __init__(self, sim: SO101Sim) -> None:
        self.sim = sim

    @property
    def action_features(self) -> dict:
        return {f"{n}.pos": float for n in self.sim.joint_names}

    def get_action(self) -> dict[str, float]:
        return {f"{n}.pos": float(v) for n, v in zip(self.sim.joint_names, self.sim.expert_action())}
