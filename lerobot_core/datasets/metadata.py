"""`LeRobotDatasetMetadata`: everything under ``meta/`` of a v3.0 dataset (info, tasks, episodes, stats).

No Hugging Face ``datasets`` or pandas: episodes are a small pyarrow-backed table (`EpisodeTable`),
tasks a `TaskTable`. Writing helpers replace files atomically (`lerobot_core.utils.io`).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_core.constants import hf_lerobot_home
from lerobot_core.datasets import format as fmt
from lerobot_core.datasets.language import DEFAULT_TOOLS, LANGUAGE_COLUMNS
from lerobot_core.datasets.stats import QUANTILE_KEYS, stats_from_json, stats_to_json
from lerobot_core.utils.io import atomic_path, atomic_write_json

logger = logging.getLogger(__name__)


class TaskTable:
    """Tasks of a dataset: ``task_index`` -> task string, in index order (upstream: a pandas frame)."""

    def __init__(self, tasks: list[str] | None = None):
        self._tasks: list[str] = list(tasks or [])
        self._index = {t: i for i, t in enumerate(self._tasks)}

    @property
    def index(self) -> list[str]:
        return list(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __contains__(self, task: object) -> bool:
        return task in self._index

    def get_task_index(self, task: str) -> int | None:
        return self._index.get(task)

    def get_task(self, task_index: int) -> str:
        return self._tasks[int(task_index)]

    def add(self, task: str) -> int:
        if task not in self._index:
            self._index[task] = len(self._tasks)
            self._tasks.append(task)
        return self._index[task]

    def to_dict(self) -> dict[str, int]:
        return dict(self._index)

    def __repr__(self) -> str:
        return f"TaskTable({self._tasks!r})"


class EpisodeTable:
    """Per-episode metadata rows (``meta/episodes/*.parquet``), indexable like upstream's HF dataset:
    ``table["length"]`` -> list, ``table[i]`` -> dict for episode row ``i``, ``len(table)``."""

    def __init__(self, table: pa.Table | None = None):
        self._table = table if table is not None else pa.table({})
        self._columns: dict[str, list] = {}
        self._rows: list[dict[str, Any]] | None = None

    @property
    def table(self) -> pa.Table:
        return self._table

    @property
    def column_names(self) -> list[str]:
        return list(self._table.column_names)

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    def __len__(self) -> int:
        return self._table.num_rows

    def column(self, name: str) -> list:
        if name not in self._columns:
            if name not in self._table.column_names:
                raise KeyError(f"episode metadata has no column {name!r}; columns: {self.column_names}")
            self._columns[name] = self._table.column(name).to_pylist()
        return self._columns[name]

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, str):
            return self.column(key)
        if self._rows is None:
            self._rows = self._table.to_pylist()
        return self._rows[int(key)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def to_pylist(self) -> list[dict[str, Any]]:
        return [self[i] for i in range(len(self))]

    def filter(self, predicate: Callable[[dict[str, Any]], bool]) -> list[int]:
        return [row["episode_index"] for row in self if predicate(row)]


def _episode_stat_type(feature: dict[str, Any], stat: str) -> pa.DataType:
    if stat == "count":
        return pa.list_(pa.int64())
    if feature["dtype"] in fmt.VISUAL_DTYPES:
        return pa.list_(pa.list_(pa.list_(pa.float64())))
    integer = feature["dtype"].startswith(("int", "uint")) or feature["dtype"] == "bool"
    if stat in ("min", "max") and integer:
        return pa.list_(pa.int64())
    return pa.list_(pa.float64())


def episodes_schema(features: dict[str, dict[str, Any]]) -> pa.Schema:
    """Arrow schema of ``meta/episodes/*.parquet`` rows, with every column upstream writes."""
    fields = [
        pa.field("episode_index", pa.int64()),
        pa.field("tasks", pa.list_(pa.string())),
        pa.field("length", pa.int64()),
        pa.field("data/chunk_index", pa.int64()),
        pa.field("data/file_index", pa.int64()),
        pa.field("dataset_from_index", pa.int64()),
        pa.field("dataset_to_index", pa.int64()),
    ]
    for key, feature in features.items():
        if feature["dtype"] == "video":
            fields += [
                pa.field(f"videos/{key}/chunk_index", pa.int64()),
                pa.field(f"videos/{key}/file_index", pa.int64()),
                pa.field(f"videos/{key}/from_timestamp", pa.float64()),
                pa.field(f"videos/{key}/to_timestamp", pa.float64()),
            ]
    for key, feature in features.items():
        if feature["dtype"] in ("string", "language") or key in LANGUAGE_COLUMNS:
            continue
        for stat in ("min", "max", "mean", "std", "count", *QUANTILE_KEYS):
            fields.append(pa.field(f"stats/{key}/{stat}", _episode_stat_type(feature, stat)))
    fields += [pa.field("meta/episodes/chunk_index", pa.int64()), pa.field("meta/episodes/file_index", pa.int64())]
    return pa.schema(fields)


def write_parquet_atomic(table: pa.Table, path: Path, compression: str = "snappy") -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=compression)


class LeRobotDatasetMetadata:
    """Metadata of a LeRobot v3.0 dataset at ``root`` (default ``$HF_LEROBOT_HOME/<repo_id>``).

    When ``root`` holds no ``meta/info.json``, the dataset is fetched with
    `lerobot_core.datasets.hub.download_dataset` (``revision`` = tag/branch/commit).
    """

    def __init__(
        self,
        repo_id: str,
        root: str | Path | None = None,
        revision: str | None = None,
        force_cache_sync: bool = False,
    ):
        self.repo_id = repo_id
        self.revision = revision
        self.root = Path(root) if root is not None else hf_lerobot_home() / repo_id
        if force_cache_sync or not (self.root / fmt.INFO_PATH).is_file():
            from lerobot_core.datasets import hub  # H2's module; imported only when a download is needed

            hub.download_dataset(repo_id, self.root, revision)
        self.load()

    # ------------------------------------------------------------------------------------------- loading
    def load(self) -> None:
        info_path = self.root / fmt.INFO_PATH
        try:
            self.info: dict[str, Any] = json.loads(info_path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{info_path} not found: {self.root} is not a LeRobot dataset") from None
        version = self.info.get("codebase_version")
        if version != fmt.CODEBASE_VERSION:
            raise ValueError(
                f"{info_path}: codebase_version {version!r} is not supported; expected {fmt.CODEBASE_VERSION!r} "
                "(convert older datasets with upstream's convert_dataset_v21_to_v30)"
            )
        for feature in self.info["features"].values():
            feature["shape"] = list(feature["shape"])
        self._extend_features_with_language_columns()
        self.tasks = self._load_tasks()
        self.episodes = self._load_episodes()
        stats_path = self.root / fmt.STATS_PATH
        self.stats = stats_from_json(json.loads(stats_path.read_text())) if stats_path.is_file() else {}

    def _extend_features_with_language_columns(self) -> None:
        files = sorted((self.root / fmt.DATA_DIR).glob("*/*.parquet"))
        if not files:
            return
        names = pq.read_schema(files[0]).names
        for column in LANGUAGE_COLUMNS:
            if column in names and column not in self.info["features"]:
                self.info["features"][column] = {"dtype": "language", "shape": [1], "names": None}

    def _load_tasks(self) -> TaskTable:
        path = self.root / fmt.TASKS_PATH
        if not path.is_file():
            return TaskTable()
        table = pq.read_table(path)
        index_col = next((c for c in table.column_names if c != "task_index"), None)
        if index_col is None:
            raise ValueError(f"{path}: no task string column (expected the pandas index beside 'task_index')")
        pairs = sorted(zip(table.column("task_index").to_pylist(), table.column(index_col).to_pylist()))
        return TaskTable([task for _, task in pairs])

    def _load_episodes(self) -> EpisodeTable:
        files = sorted((self.root / fmt.EPISODES_DIR).glob("*/*.parquet"))
        if not files:
            return EpisodeTable()
        tables = [pq.read_table(f) for f in files]
        table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
        table = table.sort_by("episode_index")
        limit = self.info.get("total_episodes", table.num_rows)
        if table.num_rows > limit:  # a crash after writing episode rows but before info.json: ignore the extras
            table = table.slice(0, limit)
        return EpisodeTable(table)

    # ---------------------------------------------------------------------------------------- properties
    @property
    def _version(self) -> str:
        return self.info["codebase_version"]

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        return self.info["features"]

    @property
    def fps(self) -> int:
        return self.info["fps"]

    @property
    def robot_type(self) -> str | None:
        return self.info.get("robot_type")

    @property
    def data_path(self) -> str:
        return self.info["data_path"]

    @property
    def video_path(self) -> str | None:
        return self.info.get("video_path")

    @property
    def chunks_size(self) -> int:
        return self.info["chunks_size"]

    @property
    def data_files_size_in_mb(self) -> int:
        return self.info["data_files_size_in_mb"]

    @property
    def video_files_size_in_mb(self) -> int:
        return self.info["video_files_size_in_mb"]

    @property
    def total_episodes(self) -> int:
        return self.info["total_episodes"]

    @property
    def total_frames(self) -> int:
        return self.info["total_frames"]

    @property
    def total_tasks(self) -> int:
        return self.info["total_tasks"]

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] == "video"]

    @property
    def image_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] == "image"]

    @property
    def camera_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] in fmt.VISUAL_DTYPES]

    @property
    def names(self) -> dict[str, Any]:
        return {k: f.get("names") for k, f in self.features.items()}

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(f["shape"]) for k, f in self.features.items()}

    @property
    def has_language_columns(self) -> bool:
        return any(c in self.features for c in LANGUAGE_COLUMNS)

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools = self.info.get("tools")
        return copy.deepcopy(tools if tools else DEFAULT_TOOLS)

    @tools.setter
    def tools(self, value: list[dict[str, Any]] | None) -> None:
        if value:
            self.info["tools"] = copy.deepcopy(list(value))
        else:
            self.info.pop("tools", None)
        self.write_info()

    # ------------------------------------------------------------------------------------------- paths
    def episode_row(self, episode_index: int) -> dict[str, Any]:
        row = self.episodes[int(episode_index)]
        if row["episode_index"] != episode_index:
            raise KeyError(f"episode {episode_index} not found in metadata")
        return row

    def get_data_file_path(self, ep_index: int) -> Path:
        row = self.episode_row(ep_index)
        return Path(self.data_path.format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]))

    def get_video_file_path(self, ep_index: int, vid_key: str) -> Path:
        row = self.episode_row(ep_index)
        return Path(
            self.video_path.format(
                video_key=vid_key,
                chunk_index=row[f"videos/{vid_key}/chunk_index"],
                file_index=row[f"videos/{vid_key}/file_index"],
            )
        )

    def get_task_index(self, task: str) -> int | None:
        return self.tasks.get_task_index(task)

    def filter_episodes(self, predicate: Callable[[dict], bool], candidates: list[int] | None = None) -> list[int]:
        """Sorted episode indices whose metadata row satisfies ``predicate`` (within ``candidates``)."""
        allowed = None if candidates is None else set(candidates)
        selected = [
            row["episode_index"]
            for row in self.episodes
            if (allowed is None or row["episode_index"] in allowed) and predicate(row)
        ]
        return sorted(selected)

    # ------------------------------------------------------------------------------------------ writing
    def write_info(self) -> None:
        atomic_write_json(self.root / fmt.INFO_PATH, self.info)

    def write_stats(self) -> None:
        atomic_write_json(self.root / fmt.STATS_PATH, stats_to_json(self.stats))

    def write_tasks(self) -> None:
        write_parquet_atomic(fmt.tasks_table(self.tasks.index), self.root / fmt.TASKS_PATH)

    @classmethod
    def create(
        cls,
        repo_id: str,
        fps: int,
        features: dict[str, dict[str, Any]],
        robot_type: str | None = None,
        root: str | Path | None = None,
        use_videos: bool = True,
        chunks_size: int = fmt.DEFAULT_CHUNK_SIZE,
        data_files_size_in_mb: int = fmt.DEFAULT_DATA_FILE_SIZE_IN_MB,
        video_files_size_in_mb: int = fmt.DEFAULT_VIDEO_FILE_SIZE_IN_MB,
    ) -> LeRobotDatasetMetadata:
        """Start an empty dataset at ``root``; raises ``FileExistsError`` if one is already there."""
        obj = cls.__new__(cls)
        obj.repo_id = repo_id
        obj.revision = None
        obj.root = Path(root) if root is not None else hf_lerobot_home() / repo_id
        if (obj.root / fmt.INFO_PATH).exists():
            raise FileExistsError(
                f"{obj.root} already holds a dataset; open it with LeRobotDataset(repo_id, root=...) to append"
            )
        if not isinstance(fps, int) or fps <= 0:
            raise ValueError(f"fps must be a positive int, got {fps!r}")
        all_features = fmt.normalize_features(features, use_videos=use_videos)
        has_video = any(f["dtype"] == "video" for f in all_features.values())
        obj.info = {
            "codebase_version": fmt.CODEBASE_VERSION,
            "robot_type": robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": int(chunks_size),
            "data_files_size_in_mb": data_files_size_in_mb,
            "video_files_size_in_mb": video_files_size_in_mb,
            "fps": fps,
            "splits": {},
            "data_path": fmt.DEFAULT_DATA_PATH,
            "video_path": fmt.DEFAULT_VIDEO_PATH if has_video else None,
            "features": all_features,
        }
        obj.tasks = TaskTable()
        obj.episodes = EpisodeTable()
        obj.stats = {}
        obj.root.mkdir(parents=True, exist_ok=True)
        obj.write_info()
        return obj

    def __repr__(self) -> str:
        return (
            f"LeRobotDatasetMetadata(repo_id={self.repo_id!r}, root={str(self.root)!r}, "
            f"total_episodes={self.total_episodes}, total_frames={self.total_frames}, fps={self.fps}, "
            f"features={list(self.features)})"
        )


def stat_to_arrow(value: np.ndarray) -> list:
    return np.asarray(value).tolist()
