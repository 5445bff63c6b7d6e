"""The simulated SO-101: scripted expert success rate, determinism, rendering, command handling."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_core.robots.so101_model import JOINT_NAMES, joint_limits
from lerobot_core.sim.env import SimCameraConfig, SO101Sim, SO101SimConfig
from lerobot_core.sim.expert import ScriptedTeleop


def _run_expert(sim: SO101Sim, seed: int) -> list[np.ndarray]:
    sim.reset(seed)
    trajectory = []
    while not sim.done():
        sim.step(sim.expert_action())
        trajectory.append(sim.joint_positions())
    return trajectory


@pytest.fixture(scope="module")
def sim() -> SO101Sim:
    s = SO101Sim(SO101SimConfig(cameras=[SimCameraConfig("front", 96, 128), SimCameraConfig("wrist", 96, 128)]))
    yield s
    s.close()


def test_expert_succeeds_in_at_least_9_of_10_seeded_episodes(sim: SO101Sim) -> None:
    successes = 0
    for seed in range(10):
        _run_expert(sim, seed)
        successes += sim.success()
    assert successes >= 9, f"expert succeeded in {successes}/10 episodes"


def test_episode_starts_unsolved_and_reports_the_task(sim: SO101Sim) -> None:
    sim.reset(4)
    assert not sim.success()
    assert not sim.done()
    assert sim.task == "Pick up the red cube and place it in the blue bin."
    assert sim.step_count == 0


def test_same_seed_same_episode_other_seed_other_cube(sim: SO101Sim) -> None:
    a = _run_expert(sim, 7)
    start_a = sim.cube_start.copy()
    b = _run_expert(sim, 7)
    assert len(a) == len(b)
    np.testing.assert_array_equal(np.array(a), np.array(b))
    sim.reset(8)
    assert np.linalg.norm(sim.cube_start - start_a) > 1e-3


def test_rendered_frames_show_the_cube_and_it_moves(sim: SO101Sim) -> None:
    sim.reset(2)

    def red_mask(img: np.ndarray) -> np.ndarray:
        r, g, b = (img[..., i].astype(int) for i in range(3))
        return (r > 150) & (g < 80) & (b < 80)

    first = sim.render("front")
    assert first.shape == (96, 128, 3) and first.dtype == np.uint8
    assert first.std() > 10, "front frame is flat"
    mask0 = red_mask(first)
    assert mask0.sum() >= 4, "the red cube is not visible in the front camera"
    wrist = sim.render("wrist")
    assert wrist.shape == (96, 128, 3) and wrist.std() > 10
    while not sim.done():
        sim.step(sim.expert_action())
    assert sim.success()
    last = sim.render("front")
    mask1 = red_mask(last)
    assert mask1.sum() >= 4, "the cube vanished from the front camera"
    centroid0 = np.argwhere(mask0).mean(axis=0)
    centroid1 = np.argwhere(mask1).mean(axis=0)
    assert np.linalg.norm(centroid1 - centroid0) > 5, "the cube did not move in the image"
    # Pixels where the cube was are no longer red.
    assert red_mask(last)[mask0].mean() < 0.5


def test_observation_and_action_dicts_use_joint_pos_keys(sim: SO101Sim) -> None:
    sim.reset(0)
    obs = sim.get_observation()
    assert [k for k in obs if k.endswith(".pos")] == [f"{n}.pos" for n in JOINT_NAMES]
    assert obs["front"].shape == (96, 128, 3) and obs["wrist"].shape == (96, 128, 3)
    sent = sim.send_action({"shoulder_pan.pos": 0.4})
    assert sent["shoulder_pan.pos"] == pytest.approx(0.4)
    for _ in range(30):
        sim.step()
    assert sim.joint_positions()[0] == pytest.approx(0.4, abs=0.03)


def test_commands_are_clipped_to_joint_limits_and_bad_commands_rejected(sim: SO101Sim) -> None:
    sim.reset(0)
    sim.step(np.full(6, 10.0))
    upper = np.array([joint_limits()[n][1] for n in JOINT_NAMES])
    np.testing.assert_allclose(sim.commanded_positions(), upper)
    with pytest.raises(ValueError, match="6 values"):
        sim.step([0.0, 1.0])
    with pytest.raises(KeyError, match="unknown joint"):
        sim.send_action({"elbow.pos": 0.0})
    with pytest.raises(KeyError, match="unknown sim camera"):
        sim.render("top")


def test_scripted_teleop_drives_the_sim_like_a_leader(sim: SO101Sim) -> None:
    sim.reset(5)
    leader = ScriptedTeleop(sim)
    assert list(leader.action_features) == [f"{n}.pos" for n in JOINT_NAMES]
    while not sim.done():
        sim.send_action(leader.get_action())
        sim.step()
    assert sim.success()


def test_camera_intrinsics_project_the_tcp_into_the_image(sim: SO101Sim) -> None:
    sim.reset(1)
    k = sim.camera_intrinsics("front", 96, 128)
    assert k[0, 0] == k[1, 1] and k[0, 2] == pytest.approx(63.5) and k[1, 2] == pytest.approx(47.5)
    # Project the cube centre with K and the camera pose: it lands on red pixels.
    cam = sim.data.cam("front")
    rel = sim.cube_position() - cam.xpos
    x_cam, y_cam, z_cam = cam.xmat.reshape(3, 3).T @ rel  # MuJoCo camera: x right, y up, looks along -z
    u = k[0, 0] * x_cam / -z_cam + k[0, 2]
    v = k[1, 1] * -y_cam / -z_cam + k[1, 2]
    img = sim.render("front")
    r, g = int(img[round(v), round(u), 0]), int(img[round(v), round(u), 1])
    assert r > 150 and g < 80, (u, v, img[round(v), round(u)])


def test_sim_command_reports_success_and_writes_a_video(tmp_path, capsys) -> None:
    import json

    import av

    from lerobot_core.sim.cli import main

    video = tmp_path / "episode.mp4"
    assert main(["--episodes", "1", "--seed", "3", "--video", str(video), "--width", "64", "--height", "48"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["success_rate"] == 1.0 and report["episodes"][0]["seed"] == 3
    with av.open(str(video)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == report["episodes"][0]["steps"] and frames[0].width == 64


def test_rendering_from_another_thread_gives_the_same_frame(sim: SO101Sim) -> None:
    import threading

    sim.reset(0)
    here = sim.render("wrist")
    there: dict = {}
    worker = threading.Thread(target=lambda: there.setdefault("img", sim.render("wrist")))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(there["img"], here)


def test_bad_sim_configs_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValueError, match="unknown camera 'top'"):
        SO101Sim(SO101SimConfig(cameras=[SimCameraConfig("top")]))
    with pytest.raises(ValueError, match="height and width must be positive"):
        SO101Sim(SO101SimConfig(cameras=[SimCameraConfig("front", 0, 64)]))
    with pytest.raises(ValueError, match="fps"):
        SO101Sim(SO101SimConfig(fps=0))
