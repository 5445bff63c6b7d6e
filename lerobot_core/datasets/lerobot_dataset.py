"""`LeRobotDataset`: read (and record) LeRobot v3.0 datasets with upstream's API and item format.

Reading loads the data parquet files of the selected episodes once into numpy columns (no Hugging Face
``datasets``) and decodes video frames on demand through a cached PyAV decoder. Items are exactly
upstream's: the same keys, dtypes, shapes and values, ``*_is_pad`` masks with ``delta_timestamps``,
``task`` as a string.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from lerobot_core.datasets import format as fmt
from lerobot_core.datasets.language import LANGUAGE_COLUMNS
from lerobot_core.datasets.metadata import LeRobotDatasetMetadata
from lerobot_core.datasets.video import decode_many, get_safe_default_video_backend
from lerobot_core.datasets.video_config import VideoEncoderConfig

logger = logging.getLogger(__name__)


def check_delta_timestamps(delta_timestamps: dict[str, list[float]], fps: int, tolerance_s: float) -> None:
    """Every delta must be a whole number of frames (within ``tolerance_s``)."""
    for key, deltas in delta_timestamps.items():
        for delta in deltas:
            if abs(round(delta * fps) / fps - delta) > tolerance_s:
                raise ValueError(
                    f"delta_timestamps[{key!r}] contains {delta}, which is not a multiple of 1/fps "
                    f"(fps={fps}) within tolerance_s={tolerance_s}"
                )


def get_delta_indices(delta_timestamps: dict[str, list[float]], fps: int) -> dict[str, list[int]]:
    return {key: [round(d * fps) for d in deltas] for key, deltas in delta_timestamps.items()}


class LeRobotDataset(torch.utils.data.Dataset):
    """A LeRobot v3.0 dataset (upstream-compatible on disk and item for item).

    Reading: ``LeRobotDataset(repo_id, root=..., episodes=[...], episode_filter=lambda ep: ...,
    delta_timestamps={key: [seconds]}, image_transforms=..., tolerance_s=1e-4, video_backend=...)``.
    Recording: ``LeRobotDataset.create(...)`` then ``add_frame`` / ``save_episode`` / ``finalize``;
    ``LeRobotDataset.resume(...)`` (or ``add_frame`` on an opened dataset) appends episodes.
    """

    def __init__(
        self,
        repo_id: str,
        root: str | Path | None = None,
        episodes: list[int] | None = None,
        image_transforms: Callable | None = None,
        delta_timestamps: dict[str, list[float]] | None = None,
        tolerance_s: float = 1e-4,
        revision: str | None = None,
        force_cache_sync: bool = False,
        download_videos: bool = True,
        video_backend: str | None = None,
        batch_encoding_size: int = 1,
        episode_filter: Callable[[dict], bool] | None = None,
        camera_encoder: VideoEncoderConfig | None = None,
        streaming_encoding: bool = True,
        encoder_queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        encoder_nice: int = 0,
        _meta: LeRobotDatasetMetadata | None = None,
    ):
        super().__init__()
        self.repo_id = repo_id
        self.revision = revision
        self.image_transforms = image_transforms
        self.delta_timestamps = delta_timestamps
        self.tolerance_s = tolerance_s
        self.video_backend = video_backend or get_safe_default_video_backend()
        self.batch_encoding_size = batch_encoding_size
        self.meta = _meta if _meta is not None else LeRobotDatasetMetadata(repo_id, root, revision, force_cache_sync)
        self.root = self.meta.root
        self._writer_options = {
            "camera_encoder": camera_encoder,
            "streaming_encoding": streaming_encoding,
            "encoder_queue_maxsize": encoder_queue_maxsize,
            "encoder_threads": encoder_threads,
            "encoder_nice": encoder_nice,
            "batch_encoding_size": batch_encoding_size,
        }
        self.writer: Any = None
        self._requested_episodes = episodes
        self._episode_filter = episode_filter
        self._num_frames: int | None = None
        self.episodes = self._select_episodes(episodes, episode_filter)
        self.delta_indices = None
        if delta_timestamps is not None:
            unknown = [k for k in delta_timestamps if k not in self.meta.features]
            if unknown:
                raise ValueError(f"delta_timestamps has unknown feature(s) {unknown}; features: {list(self.meta.features)}")
            check_delta_timestamps(delta_timestamps, self.fps, tolerance_s)
            self.delta_indices = get_delta_indices(delta_timestamps, self.fps)
        self._loaded = False

    # ------------------------------------------------------------------------------------ selection
    def _select_episodes(self, episodes: list[int] | None, episode_filter: Callable | None) -> list[int] | None:
        total = self.meta.total_episodes
        if episodes is not None:
            episodes = [int(e) for e in episodes]
            outside = [e for e in episodes if not 0 <= e < total]
            if outside:
                logger.warning("episodes %s are outside [0, %d) and are ignored", outside, total)
                episodes = [e for e in episodes if 0 <= e < total]
        if episode_filter is not None:
            try:
                episodes = self.meta.filter_episodes(episode_filter, candidates=episodes)
            except KeyError as e:
                raise ValueError(
                    f"episode_filter used an unknown episode field {e}; fields: {self.meta.episodes.column_names}"
                ) from e
            if not episodes:
                raise ValueError("episode_filter matched no episode (after intersecting with `episodes`)")
        return episodes

    # -------------------------------------------------------------------------------------- loading
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        meta = self.meta
        total_frames = meta.total_frames
        selected = list(range(meta.total_episodes)) if self.episodes is None else list(self.episodes)
        rows = [meta.episodes[e] for e in selected]
        files = sorted({(r["data/chunk_index"], r["data/file_index"]) for r in rows})
        tables = []
        for chunk, file in files:
            path = self.root / meta.data_path.format(chunk_index=chunk, file_index=file)
            tables.append(pq.read_table(path))
        if tables:
            table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
            table = table.filter(pc.less(table["index"], total_frames))
            if self.episodes is not None:
                table = table.filter(pc.is_in(table["episode_index"], value_set=pa.array(selected, pa.int64())))
        else:
            table = pa.table({"index": pa.array([], pa.int64())})
        self._table = table
        self._columns: dict[str, Any] = {}
        for key, feature in meta.features.items():
            if feature["dtype"] == "video" or key not in table.column_names:
                continue
            column = table.column(key)
            if feature["dtype"] in ("image", "string", "language") or key in LANGUAGE_COLUMNS:
                self._columns[key] = column  # decoded per item
            elif pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type):
                flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
                self._columns[key] = torch.from_numpy(np.array(flat.reshape(len(column), -1), copy=True))
            else:
                self._columns[key] = torch.from_numpy(np.array(column.to_numpy(), copy=True))
        index = table.column("index").to_numpy()
        self._abs_to_row = np.full(int(index.max()) + 1 if len(index) else 0, -1, dtype=np.int64)
        self._abs_to_row[index] = np.arange(len(index))
        self._episode_rows = {e: meta.episodes[e] for e in selected}
        self._video_paths = {
            (e, key): str(self.root / meta.get_video_file_path(e, key)) for e in selected for key in meta.video_keys
        }
        self._loaded = True

    def _invalidate(self) -> None:
        self._loaded = False
        self._num_frames = None

    # ----------------------------------------------------------------------------------- properties
    @property
    def fps(self) -> int:
        return self.meta.fps

    @property
    def features(self) -> dict[str, dict]:
        return self.meta.features

    @property
    def num_frames(self) -> int:
        if self.episodes is None:
            return self.meta.total_frames
        if self._num_frames is None:
            lengths = self.meta.episodes["length"]
            self._num_frames = sum(lengths[e] for e in self.episodes)
        return self._num_frames

    @property
    def num_episodes(self) -> int:
        return self.meta.total_episodes if self.episodes is None else len(self.episodes)

    @property
    def hf_features(self) -> dict[str, Any]:
        return fmt.data_schema(self.meta.features)

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return (
            f"LeRobotDataset(repo_id={self.repo_id!r}, root={str(self.root)!r}, episodes={self.num_episodes}, "
            f"frames={self.num_frames}, fps={self.fps}, features={list(self.features)})"
        )

    # ------------------------------------------------------------------------------------- items
    def _value(self, key: str, row: int) -> Any:
        feature = self.meta.features[key]
        column = self._columns[key]
        if isinstance(column, torch.Tensor):
            value = column[row]
            return value.reshape(()) if list(feature["shape"]) == [1] else value
        scalar = column[row]
        if feature["dtype"] == "image":
            data = scalar.as_py()
            return torch.from_numpy(fmt.decode_png(data["bytes"]).copy()).permute(2, 0, 1).float() / 255
        return scalar.as_py()

    def _rows(self, key: str, rows: list[int]) -> Any:
        column = self._columns[key]
        if isinstance(column, torch.Tensor):
            stacked = column[torch.as_tensor(rows)]
            return stacked.reshape(len(rows)) if list(self.meta.features[key]["shape"]) == [1] else stacked
        values = [self._value(key, r) for r in rows]
        return torch.stack(values) if isinstance(values[0], torch.Tensor) else values

    def _row_of(self, absolute: int) -> int:
        row = int(self._abs_to_row[absolute]) if absolute < len(self._abs_to_row) else -1
        if row < 0:
            raise IndexError(f"frame index {absolute} is not part of the selected episodes")
        return row

    def __getitem__(self, idx: int) -> dict[str, Any]:
        self._ensure_loaded()
        if isinstance(idx, torch.Tensor):
            idx = int(idx)
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < self._table.num_rows:
            raise IndexError(f"index {idx} out of range for a dataset of {self._table.num_rows} frames")
        meta = self.meta
        item: dict[str, Any] = {}
        for key in self._columns:
            item[key] = self._value(key, idx)
        ep_index = int(item["episode_index"])
        episode = self._episode_rows[ep_index]
        abs_index = int(item["index"])
        query_timestamps: dict[str, list[float]] = {}
        if self.delta_indices is not None:
            ep_start, ep_end = episode["dataset_from_index"], episode["dataset_to_index"]
            for key, deltas in self.delta_indices.items():
                targets = [abs_index + d for d in deltas]
                clamped = [max(ep_start, min(ep_end - 1, t)) for t in targets]
                item[f"{key}_is_pad"] = torch.BoolTensor([t < ep_start or t >= ep_end for t in targets])
                rows = [self._row_of(t) for t in clamped]
                if key in meta.video_keys:
                    query_timestamps[key] = self._columns["timestamp"][torch.as_tensor(rows)].tolist()
                else:
                    item[key] = self._rows(key, rows)
        current_ts = float(item["timestamp"])
        jobs = {}
        for key in meta.video_keys:
            timestamps = query_timestamps.get(key, [current_ts])
            from_ts = episode[f"videos/{key}/from_timestamp"]
            jobs[key] = (self._video_paths[(ep_index, key)], [from_ts + ts for ts in timestamps])
        for key, frames in decode_many(jobs, self.tolerance_s, self.video_backend).items():
            item[key] = frames.squeeze(0)
        if self.image_transforms is not None:
            for key in meta.camera_keys:
                item[key] = self.image_transforms(item[key])
        item["task"] = meta.tasks.get_task(int(item["task_index"]))
        return item

    # ------------------------------------------------------------------------------------ recording
    @classmethod
    def create(
        cls,
        repo_id: str,
        fps: int,
        features: dict[str, dict[str, Any]],
        root: str | Path | None = None,
        robot_type: str | None = None,
        use_videos: bool = True,
        tolerance_s: float = 1e-4,
        image_writer_processes: int = 0,
        image_writer_threads: int = 0,
        video_backend: str | None = None,
        batch_encoding_size: int = 1,
        camera_encoder: VideoEncoderConfig | None = None,
        streaming_encoding: bool = True,
        encoder_queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        encoder_nice: int = 0,
        chunks_size: int = fmt.DEFAULT_CHUNK_SIZE,
        data_files_size_in_mb: int = fmt.DEFAULT_DATA_FILE_SIZE_IN_MB,
        video_files_size_in_mb: int = fmt.DEFAULT_VIDEO_FILE_SIZE_IN_MB,
    ) -> LeRobotDataset:
        """Create an empty dataset at ``root`` ready for ``add_frame``/``save_episode``."""
        meta = LeRobotDatasetMetadata.create(
            repo_id,
            fps,
            features,
            robot_type=robot_type,
            root=root,
            use_videos=use_videos,
            chunks_size=chunks_size,
            data_files_size_in_mb=data_files_size_in_mb,
            video_files_size_in_mb=video_files_size_in_mb,
        )
        dataset = cls(
            repo_id,
            tolerance_s=tolerance_s,
            video_backend=video_backend,
            batch_encoding_size=batch_encoding_size,
            camera_encoder=camera_encoder,
            streaming_encoding=streaming_encoding,
            encoder_queue_maxsize=encoder_queue_maxsize,
            encoder_threads=encoder_threads,
            encoder_nice=encoder_nice,
            _meta=meta,
        )
        dataset._start_writer()
        return dataset

    @classmethod
    def resume(
        cls,
        repo_id: str,
        root: str | Path | None = None,
        camera_encoder: VideoEncoderConfig | None = None,
        streaming_encoding: bool = True,
        encoder_queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        encoder_nice: int = 0,
        **kwargs: Any,
    ) -> LeRobotDataset:
        """Open an existing dataset to append episodes (its recorded encoder settings are reused)."""
        dataset = cls(
            repo_id,
            root=root,
            camera_encoder=camera_encoder,
            streaming_encoding=streaming_encoding,
            encoder_queue_maxsize=encoder_queue_maxsize,
            encoder_threads=encoder_threads,
            encoder_nice=encoder_nice,
            **kwargs,
        )
        dataset._start_writer()
        return dataset

    def _start_writer(self) -> Any:
        if self.writer is None:
            from lerobot_core.datasets.writer import DatasetWriter

            self.writer = DatasetWriter(self.meta, **self._writer_options)
        return self.writer

    @property
    def episode_buffer(self) -> dict[str, list]:
        return self._start_writer().episode_buffer

    def add_frame(self, frame: dict[str, Any]) -> None:
        """Buffer one frame: every user feature plus ``task`` (str); ``timestamp`` defaults to i/fps."""
        self._start_writer().add_frame(frame)

    def save_episode(self) -> dict[str, Any]:
        """Write the buffered episode; returns ``{"episode_index", "length", "dropped_frames"}``."""
        summary = self._start_writer().save_episode()
        self.episodes = self._select_episodes(self._requested_episodes, self._episode_filter)
        self._invalidate()
        return summary

    def clear_episode_buffer(self) -> None:
        if self.writer is not None:
            self.writer.clear_episode_buffer()

    def encoder_backlog(self) -> int:
        """Frames waiting in the fullest camera encoder queue (0 without streaming encoding)."""
        return self.writer.encoder_backlog() if self.writer is not None else 0

    @property
    def dropped_frames(self) -> dict[str, int]:
        """Frames the streaming encoder could not take, per camera, since this dataset was opened."""
        return dict(self.writer.dropped_frames) if self.writer is not None else {}

    def finalize(self) -> None:
        """Finish recording: stop encoders, drop staging files. Saved episodes are already complete."""
        if self.writer is not None:
            if self.writer.num_frames:
                logger.warning("finalize: discarding %d unsaved frame(s)", self.writer.num_frames)
            self.writer.finalize()
            self.writer = None
        self._invalidate()

    def push_to_hub(self, **kwargs: Any) -> Any:
        """Upload to the Hub (see `lerobot_core.datasets.hub.push_dataset_to_hub`)."""
        from lerobot_core.datasets import hub  # imported lazily: optional network code

        return hub.push_dataset_to_hub(self.root, self.repo_id, **kwargs)
