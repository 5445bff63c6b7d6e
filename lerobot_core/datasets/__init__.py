"""LeRobot v3.0 datasets: format, recording with streaming video encoding, reading, stats."""

from lerobot_core.datasets.format import CODEBASE_VERSION
from lerobot_core.datasets.lerobot_dataset import LeRobotDataset
from lerobot_core.datasets.metadata import EpisodeTable, LeRobotDatasetMetadata, TaskTable
from lerobot_core.datasets.video import FrameTimestampError, VideoDecoderCache
from lerobot_core.datasets.video_config import VideoEncoderConfig, camera_encoder_defaults

__all__ = [
    "CODEBASE_VERSION",
    "EpisodeTable",
    "FrameTimestampError",
    "LeRobotDataset",
    "LeRobotDatasetMetadata",
    "TaskTable",
    "VideoDecoderCache",
    "VideoEncoderConfig",
    "camera_encoder_defaults",
]
