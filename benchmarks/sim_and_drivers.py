"""Benchmark: simulated SO-101 real-time factor with rendered cameras, and the driver loop rate on the emulator.

Prints one JSON object. Figures depend on the machine and its load (osmesa renders on the CPU; set
MUJOCO_GL=egl to render on a GPU).

    python benchmarks/sim_and_drivers.py [--steps 60] [--driver-seconds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from lerobot_core.motors import DynamixelMotorsBus, FeetechMotorsBus, Motor, MotorCalibration, MotorNormMode
from lerobot_core.motors.emulator import ServoBusEmulator
from lerobot_core.sim.env import SimCameraConfig, SO101Sim, SO101SimConfig

RESOLUTIONS = [(480, 640), (360, 480), (240, 320), (120, 160)]


def sim_rtf(height: int | None, width: int | None, steps: int, fps: int = 30) -> dict:
    """Real-time factor of expert-driven control steps at ``fps`` rendering two cameras per step."""
    cams = [] if height is None else [SimCameraConfig("front", height, width), SimCameraConfig("wrist", height, width)]
    sim = SO101Sim(SO101SimConfig(fps=fps, cameras=cams))
    try:
        sim.reset(0)
        for cam in cams:  # warm up the renderers (GL context creation)
            sim.render(cam.name)
        start = time.perf_counter()
        for _ in range(steps):
            sim.step(sim.expert_action())
            for cam in cams:
                sim.render(cam.name)
        wall = time.perf_counter() - start
    finally:
        sim.close()
    sim_time = steps / fps
    return {
        "resolution": None if height is None else f"{height}x{width}",
        "cameras": len(cams),
        "steps": steps,
        "step_ms": round(1000 * wall / steps, 2),
        "real_time_factor": round(sim_time / wall, 3),
    }


def driver_rate(protocol: str, seconds: float, loss_rate: float = 0.0) -> dict:
    """Loop rate of sync_read(Present_Position) + sync_write(Goal_Position) for 6 motors on the emulator."""
    model = "sts3215" if protocol == "feetech" else "xl330-m288"
    bus_cls = FeetechMotorsBus if protocol == "feetech" else DynamixelMotorsBus
    emu = ServoBusEmulator(protocol, {i: model for i in range(1, 7)})
    motors = {f"m{i}": Motor(i, model, MotorNormMode.RADIANS) for i in range(1, 7)}
    bus = bus_cls(emu.port, motors, {n: MotorCalibration(m.id, 0, 0, 0, 4095) for n, m in motors.items()})
    try:
        bus.connect()
        bus.enable_torque()
        emu.loss_rate = loss_rate
        loops = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            positions = bus.sync_read("Present_Position")
            bus.sync_write("Goal_Position", {n: p + 0.001 for n, p in positions.items()})
            loops += 1
        wall = time.perf_counter() - start
        return {
            "protocol": protocol,
            "motors": 6,
            "loss_rate": loss_rate,
            "loop_hz": round(loops / wall, 1),
            "lost_replies": sum(bus.stats.lost_by_motor.values()),
        }
    finally:
        bus.disconnect(disable_torque=False)
        emu.close()


def joint_driver_rate(seconds: float) -> dict:
    """``JointDriver.update()`` rate (read, safety gate, write) of an SO-101 follower on the emulator."""
    import tempfile
    from pathlib import Path

    from lerobot_core.motors.calibration import save_calibration
    from lerobot_core.robots.config import SO101FollowerConfig
    from lerobot_core.robots.driver import DriverConfig, FollowerBackend, JointDriver
    from lerobot_core.robots.factory import make_robot
    from lerobot_core.robots.so101_model import JOINT_NAMES, joint_limits

    emu = ServoBusEmulator("feetech", {i: "sts3215" for i in range(1, 7)})
    with tempfile.TemporaryDirectory() as tmp:
        save_calibration(Path(tmp) / "bench.json",
                         {n: MotorCalibration(i, 0, 0, 900, 3200) for i, n in enumerate(JOINT_NAMES, 1)})  # fmt: skip
        robot = make_robot(SO101FollowerConfig(port=emu.port, id="bench", calibration_dir=Path(tmp), units="radians"))
        try:
            robot.connect(prompt=lambda message: "")
            limits = joint_limits()
            driver = JointDriver(FollowerBackend(robot), DriverConfig(
                list(JOINT_NAMES), [limits[n][0] for n in JOINT_NAMES], [limits[n][1] for n in JOINT_NAMES],
                max_relative_target=0.1))  # fmt: skip
            driver.command_positions({"elbow_flex": 0.5})
            updates, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                driver.update()
                updates += 1
            return {"robot": "so101_follower", "update_hz": round(updates / (time.perf_counter() - start), 1)}
        finally:
            robot.disconnect()
            emu.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--driver-seconds", type=float, default=2.0)
    args = parser.parse_args()
    physics = sim_rtf(None, None, args.steps * 3)
    rendered = [sim_rtf(h, w, args.steps) for h, w in RESOLUTIONS]
    realtime = [r["resolution"] for r in rendered if r["real_time_factor"] >= 1.0]
    drivers = [
        driver_rate("feetech", args.driver_seconds),
        driver_rate("dynamixel", args.driver_seconds),
        driver_rate("feetech", args.driver_seconds, loss_rate=0.05),
    ]
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "mujoco_gl": os.environ["MUJOCO_GL"]},
        "sim_physics_only_30hz": physics,
        "sim_two_cameras_30hz": rendered,
        "sim_real_time_at_480x640": rendered[0]["real_time_factor"] >= 1.0,
        "largest_real_time_resolution": realtime[0] if realtime else None,
        "driver_loop": drivers,
        "joint_driver": (joint := joint_driver_rate(args.driver_seconds)),
        "driver_meets_100hz": all(d["loop_hz"] >= 100 for d in drivers) and joint["update_hz"] >= 100,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
