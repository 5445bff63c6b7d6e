"""Tiny synthetic datasets and tiny policy flags shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lerobot_core.datasets import LeRobotDataset

H, W = 24, 32
EPISODES, LENGTH = 3, 16

# A tiny ACT (one ResNet18 on 24×32 images, 1-layer transformers) so a step takes well under a second.
TINY_ACT = [
    "--policy.type=act", "--policy.device=cpu", "--policy.chunk_size=4", "--policy.n_action_steps=4",
    "--policy.dim_model=16", "--policy.n_heads=2", "--policy.dim_feedforward=32", "--policy.n_encoder_layers=1",
    "--policy.n_vae_encoder_layers=1", "--policy.latent_dim=4", "--policy.pretrained_backbone_weights=null",
]
TINY_DIFFUSION = [
    "--policy.type=diffusion", "--policy.device=cpu", "--policy.n_obs_steps=2", "--policy.horizon=4",
    "--policy.n_action_steps=2", "--policy.down_dims=[8,16]", "--policy.kernel_size=3", "--policy.n_groups=4",
    "--policy.diffusion_step_embed_dim=8", "--policy.spatial_softmax_num_keypoints=4",
    "--policy.crop_shape=[16,24]", "--policy.num_train_timesteps=10", "--policy.drop_n_last_frames=3",
]


def write_dataset(root: Path, episodes: int = EPISODES, length: int = LENGTH, state_dim: int = 6,
                  with_camera: bool = True, with_action: bool = True) -> Path:
    features: dict = {"observation.state": {"dtype": "float32", "shape": (state_dim,), "names": None}}
    if with_action:
        features["action"] = {"dtype": "float32", "shape": (6,), "names": None}
    if with_camera:
        features["observation.images.front"] = {"dtype": "video", "shape": (H, W, 3),
                                                "names": ["height", "width", "channels"]}
    ds = LeRobotDataset.create("test/tiny", 30, features, root=root, robot_type="synthetic")
    rng = np.random.default_rng(0)
    for ep in range(episodes):
        for i in range(length):
            frame = {"observation.state": rng.normal(size=state_dim).astype(np.float32) + ep, "task": f"task {ep}"}
            if with_action:
                frame["action"] = (np.linspace(0, 1, 6) * i / length + ep).astype(np.float32)
            if with_camera:
                img = np.full((H, W, 3), 30 + 40 * ep, np.uint8)
                img[4:12, i % (W - 8) : i % (W - 8) + 8] = (220, 80, 60)
                frame["observation.images.front"] = img
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 episodes × 16 frames, one 24×32 camera (AV1 video), 6-D state and action. Read-only: do not modify."""
    return write_dataset(tmp_path_factory.mktemp("tiny") / "ds")
