"""Recording episodes into a LeRobot v3.0 dataset: frame buffer, streaming/batch video encoding,
per-episode stats, and the commit of each episode (data, videos, episode row, tasks, stats, info).

Crash safety: every file is replaced atomically and ``meta/info.json`` (the episode and frame totals)
is written last. Whatever a crash leaves past those totals (extra data rows, episode rows, video frames
past the last committed ``to_timestamp``, the ``.cache/staging`` folder) is ignored when reading and dropped
when appending, so saved episodes stay loadable and the dataset can be reopened to add more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lerobot_core.datasets import format as fmt
from lerobot_core.datasets.language import LANGUAGE_COLUMNS, language_array
from lerobot_core.datasets.metadata import LeRobotDatasetMetadata, episodes_schema, write_parquet_atomic
from lerobot_core.datasets.stats import (
    aggregate_stats,
    episode_image_stats,
    thumbnail,
    vector_stats,
)
from lerobot_core.datasets.video import (
    StreamingVideoEncoder,
    concatenate_videos,
    encode_raw_frames,
    get_video_info,
)
from lerobot_core.datasets.video_config import VideoEncoderConfig, camera_encoder_defaults

logger = logging.getLogger(__name__)

STAGING_DIR = ".cache/staging"  # under .cache/: never uploaded to the Hub
# Thumbnails kept per camera for image stats before halving their rate (bounds memory on long episodes).
MAX_THUMBNAILS = 1000


class _CameraBuffer:
    """Per-camera state of the episode being recorded (thumbnails for stats, raw file for batch mode)."""

    def __init__(self) -> None:
        self.thumbnails: list[np.ndarray] = []
        self.stride = 1
        self.raw_file: Any = None
        self.raw_path: Path | None = None
        self.images: list[np.ndarray] = []  # dtype "image": kept until saved into parquet

    def add_thumbnail(self, frame_index: int, image: np.ndarray) -> None:
        if frame_index % self.stride:
            return
        self.thumbnails.append(thumbnail(image))
        if len(self.thumbnails) >= MAX_THUMBNAILS:
            self.thumbnails = self.thumbnails[::2]
            self.stride *= 2


class DatasetWriter:
    """Appends episodes to the dataset described by ``meta`` (a fresh or an existing one)."""

    def __init__(
        self,
        meta: LeRobotDatasetMetadata,
        camera_encoder: VideoEncoderConfig | None = None,
        streaming_encoding: bool = True,
        encoder_queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        batch_encoding_size: int = 1,
        encoder_nice: int = 0,
    ):
        self.meta = meta
        self.root = meta.root
        self.fps = meta.fps
        self.features = meta.features
        self.camera_encoder = camera_encoder or self._recorded_encoder() or camera_encoder_defaults()
        if encoder_threads is None and meta.video_keys:
            # Cameras encode in parallel: split the cores between them instead of letting every SVT-AV1
            # instance start a thread per core (oversubscription costs ~10-15% CPU per frame on 2 cores).
            encoder_threads = max(1, (os.cpu_count() or 1) // len(meta.video_keys))
        self.encoder_threads = encoder_threads
        self.streaming = streaming_encoding and bool(meta.video_keys)
        self.streaming_encoder = (
            StreamingVideoEncoder(self.fps, self.camera_encoder, encoder_queue_maxsize, encoder_threads, encoder_nice)
            if self.streaming
            else None
        )
        if batch_encoding_size != 1:
            logger.info("batch_encoding_size=%d: videos are still encoded at each save_episode", batch_encoding_size)
        self.staging = self.root / STAGING_DIR
        shutil.rmtree(self.staging, ignore_errors=True)
        self.data_schema = fmt.data_schema(self.features)
        self.episodes_schema = episodes_schema(self.features)
        self._data_table: pa.Table | None = None  # rows of the current data file
        self._episodes_table: pa.Table | None = None  # rows of the current episodes file
        self.dropped_frames: dict[str, int] = {k: 0 for k in meta.video_keys}
        self.last_episode_dropped_frames: dict[str, int] = {}
        self._lock = threading.Lock()
        self._resync_stats()
        self.clear_episode_buffer()

    # ---------------------------------------------------------------------------------------- set-up
    def _recorded_encoder(self) -> VideoEncoderConfig | None:
        for key in self.meta.video_keys:
            info = self.meta.features[key].get("info")
            if info:
                try:
                    return VideoEncoderConfig.from_video_info(info)
                except ValueError as e:
                    logger.warning("cannot reuse the encoder recorded for %s (%s); using defaults", key, e)
        return None

    def _resync_stats(self) -> None:
        """Dataset stats = aggregate of the committed per-episode stats (robust to a crash mid-commit)."""
        episodes = self.meta.episodes
        if len(episodes) == 0:
            self.meta.stats = {}
            return
        per_episode = []
        for row in episodes:
            stats: dict[str, dict[str, np.ndarray]] = {}
            for column, value in row.items():
                if column.startswith("stats/") and value is not None:
                    _, rest = column.split("/", 1)
                    key, stat = rest.rsplit("/", 1)
                    stats.setdefault(key, {})[stat] = np.array(value)
            per_episode.append(stats)
        self.meta.stats = aggregate_stats(per_episode)

    # --------------------------------------------------------------------------------------- buffering
    def clear_episode_buffer(self) -> None:
        """Forget the episode being recorded (frames, staged videos)."""
        if self.streaming_encoder is not None:
            self.streaming_encoder.cancel_episode()
        cameras = getattr(self, "_cameras", {})
        for cam in cameras.values():
            if cam.raw_file is not None:
                cam.raw_file.close()
                cam.raw_path.unlink(missing_ok=True)
        self.episode_buffer: dict[str, list] = {
            k: [] for k, f in self.features.items() if f["dtype"] not in fmt.VISUAL_DTYPES
        }
        self.episode_buffer["task"] = []
        self._cameras: dict[str, _CameraBuffer] = {k: _CameraBuffer() for k in self.meta.camera_keys}
        self.num_frames = 0

    @property
    def episode_index(self) -> int:
        return self.meta.total_episodes

    def _staged_video(self, key: str, suffix: str) -> Path:
        return self.staging / f"{key}-episode-{self.episode_index:06d}{suffix}"

    def add_frame(self, frame: dict[str, Any]) -> None:
        """Validate and buffer one frame (``task`` required); camera frames go to the encoders."""
        if not isinstance(frame, dict):
            raise ValueError(f"add_frame expects a dict of feature -> value, got {type(frame).__name__}")
        frame = dict(frame)
        task = frame.pop("task", None)
        if not isinstance(task, str) or not task:
            raise ValueError(f"feature 'task': expected a non-empty str, got {type(task).__name__} {task!r}")
        timestamp = frame.pop("timestamp", None)
        user_keys = [k for k in self.features if k not in fmt.DEFAULT_FEATURES]
        missing = [k for k in user_keys if k not in frame and self.features[k]["dtype"] != "language"]
        if missing:
            raise ValueError(f"frame is missing feature(s) {missing}; expected keys {user_keys} plus 'task'")
        extra = [k for k in frame if k not in self.features]
        if extra:
            raise ValueError(f"frame has unknown feature(s) {extra}; the dataset features are {user_keys}")
        values: dict[str, Any] = {}
        images: dict[str, np.ndarray] = {}
        for key in user_keys:
            feature = self.features[key]
            if feature["dtype"] in fmt.VISUAL_DTYPES:
                images[key] = fmt.validate_image(key, feature, frame[key])
            elif feature["dtype"] == "language" or key in LANGUAGE_COLUMNS:
                values[key] = frame.get(key)
            else:
                values[key] = fmt.validate_value(key, feature, frame[key])
        index = self.num_frames
        if index == 0 and self.streaming_encoder is not None:
            self.staging.mkdir(parents=True, exist_ok=True)
            outputs = {}
            for key in self.meta.video_keys:
                height, width = fmt.image_hw(self.features[key])
                outputs[key] = (self._staged_video(key, ".mp4"), height, width)
            self.streaming_encoder.start_episode(outputs)
        for key, image in images.items():
            cam = self._cameras[key]
            cam.add_thumbnail(index, image)
            if self.features[key]["dtype"] == "image":
                cam.images.append(image.copy())
            elif self.streaming_encoder is not None:
                if not self.streaming_encoder.feed(key, index, image.copy()):
                    self.dropped_frames[key] += 1
            else:
                if cam.raw_file is None:
                    self.staging.mkdir(parents=True, exist_ok=True)
                    cam.raw_path = self._staged_video(key, ".rgb")
                    cam.raw_file = open(cam.raw_path, "wb")  # noqa: SIM115 (closed at save/clear)
                try:
                    cam.raw_file.write(image.tobytes())
                except OSError as e:
                    raise OSError(e.errno, f"could not stage frame {index} of {key} in {cam.raw_path}: "
                                           f"{e.strerror or e}") from e
        for key, value in values.items():
            self.episode_buffer[key].append(value)
        self.episode_buffer["frame_index"].append(index)
        self.episode_buffer["timestamp"].append(float(timestamp) if timestamp is not None else index / self.fps)
        self.episode_buffer["task"].append(task)
        self.num_frames += 1

    def encoder_backlog(self) -> int:
        return self.streaming_encoder.backlog() if self.streaming_encoder is not None else 0

    # ------------------------------------------------------------------------------------------ saving
    def _column(self, key: str, values: list) -> pa.Array:
        feature = self.features[key]
        arrow_type = fmt.feature_arrow_type(key, feature)
        if feature["dtype"] == "language" or key in LANGUAGE_COLUMNS:
            return language_array(key, values)
        if feature["dtype"] == "string":
            return pa.array(values, pa.string())
        array = np.asarray(values, dtype=feature["dtype"])
        if list(feature["shape"]) == [1]:
            return pa.array(array.reshape(-1), arrow_type)
        flat = pa.array(array.reshape(-1), arrow_type.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, int(feature["shape"][0]))

    def _episode_stats(self, length: int, columns: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        stats: dict[str, dict[str, np.ndarray]] = {}
        for key, feature in self.features.items():
            dtype = feature["dtype"]
            if dtype in ("string", "language") or key in LANGUAGE_COLUMNS:
                continue
            if dtype in fmt.VISUAL_DTYPES:
                cam = self._cameras[key]
                stats[key] = episode_image_stats(cam.thumbnails, length, cam.stride)
            else:
                stats[key] = vector_stats(columns[key])
        return stats

    def _encode_batch(self, length: int) -> dict[str, Path]:
        jobs = {}
        for key in self.meta.video_keys:
            cam = self._cameras[key]
            cam.raw_file.close()
            cam.raw_file = None
            height, width = fmt.image_hw(self.features[key])
            jobs[key] = (cam.raw_path, self._staged_video(key, ".mp4"), length, height, width)
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            futures = {
                key: pool.submit(encode_raw_frames, raw, out, n, h, w, self.fps, self.camera_encoder, self.encoder_threads)
                for key, (raw, out, n, h, w) in jobs.items()
            }
            paths = {key: f.result() for key, f in futures.items()}
        for raw, *_ in jobs.values():
            raw.unlink(missing_ok=True)
        return paths

    def _latest(self, column: str, default: Any = None) -> Any:
        episodes = self.meta.episodes
        if len(episodes) == 0:
            return default
        return episodes[len(episodes) - 1][column]

    def _place_video(self, key: str, staged: Path, length: int) -> dict[str, Any]:
        """Append the staged episode video to the current file of ``key`` (or start a new file)."""
        duration = length / self.fps
        chunk = self._latest(f"videos/{key}/chunk_index")
        if chunk is None:
            chunk, file, from_ts = 0, 0, 0.0
            target = self.root / self.meta.video_path.format(video_key=key, chunk_index=0, file_index=0)
            new_file = True
        else:
            file = self._latest(f"videos/{key}/file_index")
            prev_to = float(self._latest(f"videos/{key}/to_timestamp"))
            target = self.root / self.meta.video_path.format(video_key=key, chunk_index=chunk, file_index=file)
            limit = self.meta.video_files_size_in_mb * 1024**2
            new_file = not target.exists() or target.stat().st_size + staged.stat().st_size >= limit
            if new_file:
                chunk, file = fmt.update_chunk_file_indices(chunk, file, self.meta.chunks_size)
                target = self.root / self.meta.video_path.format(video_key=key, chunk_index=chunk, file_index=file)
                from_ts = 0.0
            else:
                from_ts = prev_to
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            inputs = [(staged, duration)] if new_file else [(target, from_ts), (staged, duration)]
            concatenate_videos(inputs, tmp, max_duration_s=duration)
            tmp.replace(target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise OSError(e.errno, f"could not write video {target}: {e.strerror or e}") from e
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return {
            f"videos/{key}/chunk_index": chunk,
            f"videos/{key}/file_index": file,
            f"videos/{key}/from_timestamp": from_ts,
            f"videos/{key}/to_timestamp": from_ts + duration,
        }

    def _load_committed(self, path: Path, schema: pa.Schema, column: str, limit: int) -> pa.Table:
        table = pq.read_table(path)
        table = table.filter(pc.less(table[column], limit)) if table.num_rows else table
        return table.select(schema.names).cast(schema)

    def _place_data(self, table: pa.Table) -> tuple[dict[str, Any], pa.Table]:
        chunk = self._latest("data/chunk_index")
        limit = self.meta.data_files_size_in_mb * 1024**2
        if chunk is None:
            chunk, file, combined = 0, 0, table
        else:
            file = self._latest("data/file_index")
            path = self.root / self.meta.data_path.format(chunk_index=chunk, file_index=file)
            if path.exists() and path.stat().st_size + table.nbytes < limit:
                if self._data_table is None:
                    self._data_table = self._load_committed(path, self.data_schema, "index", self.meta.total_frames)
                combined = pa.concat_tables([self._data_table, table])
            else:
                chunk, file = fmt.update_chunk_file_indices(chunk, file, self.meta.chunks_size)
                combined = table
        path = self.root / self.meta.data_path.format(chunk_index=chunk, file_index=file)
        write_parquet_atomic(combined, path)
        return {"data/chunk_index": chunk, "data/file_index": file}, combined

    def _place_episode_row(self, row: dict[str, Any]) -> pa.Table:
        chunk = self._latest("meta/episodes/chunk_index")
        new_row = pa.Table.from_pylist([row], schema=self.episodes_schema)
        if chunk is None:
            chunk, file, combined = 0, 0, None
        else:
            file = self._latest("meta/episodes/file_index")
            path = self.root / fmt.DEFAULT_EPISODES_PATH.format(chunk_index=chunk, file_index=file)
            limit = self.meta.data_files_size_in_mb * 1024**2
            if path.exists() and path.stat().st_size < limit:
                if self._episodes_table is None:
                    self._episodes_table = self._load_committed(
                        path, self.episodes_schema, "episode_index", self.meta.total_episodes
                    )
                combined = self._episodes_table
            else:
                chunk, file = fmt.update_chunk_file_indices(chunk, file, self.meta.chunks_size)
                combined = None
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = chunk, file
        new_row = pa.Table.from_pylist([row], schema=self.episodes_schema)
        combined = new_row if combined is None else pa.concat_tables([combined, new_row])
        write_parquet_atomic(combined, self.root / fmt.DEFAULT_EPISODES_PATH.format(chunk_index=chunk, file_index=file))
        return combined

    def save_episode(self) -> dict[str, Any]:
        """Commit the buffered episode; returns a summary (index, length, dropped frames per camera)."""
        with self._lock:
            return self._save_episode()

    def _save_episode(self) -> dict[str, Any]:
        length = self.num_frames
        if length == 0:
            raise ValueError("save_episode: the episode buffer is empty; call add_frame first")
        meta = self.meta
        ep_index = meta.total_episodes
        start = meta.total_frames
        # tasks (new ones are appended; on failure they are rolled back below)
        tasks_before = len(meta.tasks)
        task_indices = [meta.tasks.add(t) for t in self.episode_buffer["task"]]
        episode_tasks = list(dict.fromkeys(self.episode_buffer["task"]))
        try:
            columns_np: dict[str, Any] = {
                "timestamp": np.asarray(self.episode_buffer["timestamp"], dtype=np.float64),
                "frame_index": np.arange(length, dtype=np.int64),
                "episode_index": np.full(length, ep_index, dtype=np.int64),
                "index": np.arange(start, start + length, dtype=np.int64),
                "task_index": np.asarray(task_indices, dtype=np.int64),
            }
            arrays: dict[str, pa.Array] = {}
            for key, feature in self.features.items():
                dtype = feature["dtype"]
                if dtype == "video":
                    continue
                if dtype == "image":
                    images = self._cameras[key].images
                    with ThreadPoolExecutor(max_workers=2) as pool:
                        pngs = list(pool.map(fmt.encode_png, images))
                    arrays[key] = pa.array([{"bytes": b, "path": None} for b in pngs], fmt.IMAGE_ARROW_TYPE)
                elif key in columns_np:
                    arrays[key] = pa.array(columns_np[key].astype(dtype), fmt.feature_arrow_type(key, feature))
                else:
                    arrays[key] = self._column(key, self.episode_buffer[key])
                    if dtype not in ("string", "language") and key not in LANGUAGE_COLUMNS:
                        columns_np[key] = np.asarray(self.episode_buffer[key], dtype=dtype).reshape(length, -1)
            table = pa.table(arrays, schema=self.data_schema)
            ep_stats = self._episode_stats(length, columns_np)

            if self.streaming_encoder is not None:
                staged = self.streaming_encoder.finish_episode(length)
                self.last_episode_dropped_frames = dict(self.streaming_encoder.dropped_frames)
            elif meta.video_keys:
                staged = self._encode_batch(length)
                self.last_episode_dropped_frames = {k: 0 for k in meta.video_keys}
            else:
                staged = {}
            row: dict[str, Any] = {
                "episode_index": ep_index,
                "tasks": episode_tasks,
                "length": length,
            }
            video_rows: dict[str, Any] = {}
            first_video = any(not meta.features[k].get("info") for k in staged)
            if first_video:
                for key, path in staged.items():
                    info = meta.features[key].get("info") or {}
                    meta.features[key]["info"] = {**get_video_info(path, self.camera_encoder), **{
                        k: v for k, v in info.items() if k.startswith("video.") and k not in (
                            "video.height", "video.width", "video.codec", "video.pix_fmt", "video.fps", "video.channels")
                    }}
            for key, path in staged.items():
                video_rows.update(self._place_video(key, path, length))
                path.unlink(missing_ok=True)
            data_loc, data_table = self._place_data(table)
            row.update(data_loc)
            row["dataset_from_index"], row["dataset_to_index"] = start, start + length
            row.update(video_rows)
            for key, stats in ep_stats.items():
                for stat, value in stats.items():
                    row[f"stats/{key}/{stat}"] = np.asarray(value).tolist()
            episodes_table = self._place_episode_row(row)
            if len(meta.tasks) != tasks_before or not (self.root / fmt.TASKS_PATH).exists():
                meta.write_tasks()
            new_stats = aggregate_stats([meta.stats, ep_stats]) if meta.stats else ep_stats
            meta.stats = new_stats
            meta.write_stats()
            meta.info["total_episodes"] = ep_index + 1
            meta.info["total_frames"] = start + length
            meta.info["total_tasks"] = len(meta.tasks)
            meta.info["splits"] = {"train": f"0:{ep_index + 1}"}
            meta.write_info()  # commit point
        except BaseException:
            # Saved episodes are untouched (atomic replaces, info.json last); this episode is discarded.
            meta.load()
            self._resync_stats()
            self._data_table = self._episodes_table = None
            self.clear_episode_buffer()
            raise
        self._data_table = data_table
        self._episodes_table = episodes_table
        meta.episodes = meta._load_episodes()
        dropped = dict(self.last_episode_dropped_frames)
        self.clear_episode_buffer()
        return {"episode_index": ep_index, "length": length, "dropped_frames": dropped}

    def finalize(self) -> None:
        """Stop encoders and remove staging files. Safe to call more than once."""
        if self.streaming_encoder is not None:
            self.streaming_encoder.cancel_episode()
        for cam in self._cameras.values():
            if cam.raw_file is not None:
                cam.raw_file.close()
                cam.raw_file = None
        shutil.rmtree(self.staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.staging.parent.rmdir()  # .cache/ when nothing else lives there
