"""Recording ROS streams into LeRobot v3.0 datasets: mapping, steady-clock synchronizer, recorder, bag converter.

Pure core (no ROS): the ``recorder`` node of ``lerobot_ros`` and ``lerobot-core dataset from-bag`` are two
drivers of the same :class:`DatasetRecorder` and :class:`Synchronizer`. See docs/recording.md.
"""

from lerobot_core.recording.mapping import (
    ActionConfig,
    CameraConfig,
    DatasetConfig,
    RecordingConfig,
    StateConfig,
)
from lerobot_core.recording.recorder import REPORT_PATH, DatasetRecorder
from lerobot_core.recording.sync import StreamSpec, Synchronizer

__all__ = [
    "REPORT_PATH",
    "ActionConfig",
    "CameraConfig",
    "DatasetConfig",
    "DatasetRecorder",
    "RecordingConfig",
    "StateConfig",
    "StreamSpec",
    "Synchronizer",
]
