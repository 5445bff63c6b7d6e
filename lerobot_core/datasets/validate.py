"""Integrity checks for a LeRobot v3.0 dataset on disk, independent of the reader.

``validate_dataset(root)`` reads ``meta/`` with pyarrow, the data parquet files (index columns only) and the
video containers (demuxed with PyAV, not decoded) and returns a :class:`ValidationReport` listing every problem
with its episode, file, expected and actual value. ``lerobot-core dataset validate`` prints it and exits 1
when it is not clean.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lerobot_core.datasets.format import CODEBASE_VERSION, EPISODES_DIR, INFO_PATH, STATS_PATH, TASKS_PATH
from lerobot_core.datasets.hub import parse_version

INDEX_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")
REQUIRED_INFO_KEYS = ("codebase_version", "fps", "features", "total_episodes", "total_frames", "total_tasks",
                      "chunks_size", "data_path")
STAT_KEYS = ("min", "max", "mean", "std", "count")
NO_STATS_DTYPES = {"string", "language"}
VISUAL_DTYPES = {"image", "video"}
DEFAULT_TOLERANCE_S = 1e-4


@dataclass
class Finding:
    """One problem: which check, where (episode, file) and expected vs actual when they are values."""

    check: str
    message: str
    episode: int | None = None
    file: str | None = None
    expected: Any = None
    actual: Any = None

    def __str__(self) -> str:
        where = []
        if self.episode is not None:
            where.append(f"episode {self.episode}")
        if self.file is not None:
            where.append(self.file)
        text = f"[{self.check}] " + (", ".join(where) + ": " if where else "") + self.message
        if self.expected is not None or self.actual is not None:
            text += f" (expected {self.expected}, got {self.actual})"
        return text


@dataclass
class ValidationReport:
    root: str
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, check: str, message: str, **where: Any) -> None:
        self.findings.append(Finding(check, message, **where))

    def checks(self) -> set[str]:
        return {f.check for f in self.findings}

    def format(self, max_findings: int = 200) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in self.checked.items())
        if self.ok:
            return f"OK: {self.root} is a valid LeRobot {CODEBASE_VERSION} dataset ({counts})."
        lines = [f"FAILED: {self.root}: {len(self.findings)} problem(s) ({counts})"]
        lines += [f"  {f}" for f in self.findings[:max_findings]]
        if len(self.findings) > max_findings:
            lines.append(f"  ... and {len(self.findings) - max_findings} more")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "ok": self.ok, "checked": self.checked,
                "findings": [asdict(f) for f in self.findings]}


def validate_dataset(root: str | Path, *, tolerance_s: float = DEFAULT_TOLERANCE_S,
                     check_videos: bool = True) -> ValidationReport:
    """Check the dataset at ``root``; never raises on a broken dataset, every problem becomes a finding."""
    root = Path(root)
    report = ValidationReport(str(root))
    info = _check_info(root, report)
    if info is None:
        return report
    episodes = _load_episodes(root, info, report)
    n_tasks = _check_tasks(root, info, report)
    if episodes is not None and n_tasks is not None:
        _check_episode_tasks(episodes, task_strings(root / TASKS_PATH), report)
    if episodes is not None:
        _check_data(root, info, episodes, n_tasks, tolerance_s, report)
        if check_videos:
            _check_videos(root, info, episodes, tolerance_s, report)
        _check_episode_stats(info, episodes, report)
    _check_stats(root, info, report)
    return report


# ---- meta/info.json --------------------------------------------------------------------------------
def _check_info(root: Path, report: ValidationReport) -> dict[str, Any] | None:
    path = root / INFO_PATH
    if not path.is_file():
        report.add("info", "missing: not a LeRobot dataset (or not finalized)", file=INFO_PATH)
        return None
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        report.add("info", f"not valid JSON: {e}", file=INFO_PATH)
        return None
    missing = [k for k in REQUIRED_INFO_KEYS if k not in info]
    if missing:
        report.add("info", f"missing keys {missing}", file=INFO_PATH)
        return None
    version = parse_version(str(info["codebase_version"]))
    if version is None or version.major != 3:
        report.add("info", "unsupported codebase_version", file=INFO_PATH, expected=CODEBASE_VERSION,
                   actual=info["codebase_version"])
        return None
    if not (isinstance(info["fps"], (int, float)) and info["fps"] > 0):
        report.add("info", "fps must be a positive number", file=INFO_PATH, actual=info["fps"])
        return None
    for key in INDEX_COLUMNS:
        if key not in info["features"]:
            report.add("info", f"feature {key!r} missing from features", file=INFO_PATH)
    for key, feature in info["features"].items():
        if not isinstance(feature, dict) or "dtype" not in feature or "shape" not in feature:
            report.add("info", f"feature {key!r} needs 'dtype' and 'shape'", file=INFO_PATH, actual=feature)
    return info


def video_keys(info: dict[str, Any]) -> list[str]:
    return [k for k, f in info["features"].items() if isinstance(f, dict) and f.get("dtype") == "video"]


# ---- meta/episodes and meta/tasks ------------------------------------------------------------------
def _load_episodes(root: Path, info: dict[str, Any], report: ValidationReport) -> pa.Table | None:
    files = sorted((root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))
    if not files:
        report.add("episodes", "no episode metadata files", file=f"{EPISODES_DIR}/chunk-*/file-*.parquet")
        return None
    tables = []
    for f in files:
        try:
            tables.append(pq.read_table(f))
        except (OSError, pa.ArrowException) as e:
            report.add("episodes", f"unreadable parquet: {e}", file=_rel(root, f))
    if not tables:
        return None
    try:
        episodes = pa.concat_tables(tables, promote_options="permissive").sort_by("episode_index")
    except (pa.ArrowException, KeyError) as e:
        report.add("episodes", f"episode metadata files do not share a schema: {e}", file=EPISODES_DIR)
        return None
    required = ["episode_index", "length", "dataset_from_index", "dataset_to_index",
                "data/chunk_index", "data/file_index"]
    for key in video_keys(info):
        required += [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
    missing = [c for c in required if c not in episodes.column_names]
    if missing:
        report.add("episodes", f"episode metadata lacks columns {missing}", file=EPISODES_DIR)
        return None
    report.checked["episodes"] = episodes.num_rows
    ep_idx = episodes["episode_index"].to_pylist()
    if ep_idx != list(range(len(ep_idx))):
        report.add("episodes", "episode_index is not contiguous from 0", file=EPISODES_DIR,
                   expected=f"0..{len(ep_idx) - 1}", actual=_short(ep_idx))
    if len(ep_idx) != info["total_episodes"]:
        report.add("info", "total_episodes does not match the episode metadata", file=INFO_PATH,
                   expected=len(ep_idx), actual=info["total_episodes"])
    lengths = episodes["length"].to_pylist()
    if sum(lengths) != info["total_frames"]:
        report.add("info", "total_frames does not match the sum of episode lengths", file=INFO_PATH,
                   expected=sum(lengths), actual=info["total_frames"])
    expected_from = 0
    for ep, length, start, end in zip(ep_idx, lengths, episodes["dataset_from_index"].to_pylist(),
                                      episodes["dataset_to_index"].to_pylist()):
        if start != expected_from:
            report.add("episodes", "dataset_from_index does not continue the previous episode", episode=ep,
                       file=EPISODES_DIR, expected=expected_from, actual=start)
        if end - start != length:
            report.add("episodes", "dataset_to_index - dataset_from_index != length", episode=ep,
                       file=EPISODES_DIR, expected=length, actual=end - start)
        expected_from = end
    return episodes


def _check_tasks(root: Path, info: dict[str, Any], report: ValidationReport) -> int | None:
    path = root / TASKS_PATH
    if not path.is_file():
        report.add("tasks", "missing", file=TASKS_PATH)
        return None
    try:
        tasks = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        report.add("tasks", f"unreadable parquet: {e}", file=TASKS_PATH)
        return None
    if "task_index" not in tasks.column_names:
        report.add("tasks", "no task_index column", file=TASKS_PATH)
        return None
    indices = sorted(tasks["task_index"].to_pylist())
    if indices != list(range(len(indices))):
        report.add("tasks", "task_index is not contiguous from 0", file=TASKS_PATH,
                   expected=f"0..{len(indices) - 1}", actual=_short(indices))
    if len(indices) != info["total_tasks"]:
        report.add("info", "total_tasks does not match meta/tasks.parquet", file=INFO_PATH,
                   expected=len(indices), actual=info["total_tasks"])
    report.checked["tasks"] = len(indices)
    return len(indices)


def task_strings(path: Path) -> list[str]:
    """Task strings of ``meta/tasks.parquet`` in ``task_index`` order (the pandas index column upstream writes)."""
    table = pq.read_table(path)
    order = table["task_index"].to_pylist() if "task_index" in table.column_names else range(table.num_rows)
    column = next((c for c in ("task", "__index_level_0__") if c in table.column_names), None)
    if column is None:
        column = next((f.name for f in table.schema if pa.types.is_string(f.type) or
                       pa.types.is_large_string(f.type)), None)
    if column is None:
        return []
    return [t for _, t in sorted(zip(order, table[column].to_pylist()))]


def _check_episode_tasks(episodes: pa.Table, tasks: list[str], report: ValidationReport) -> None:
    if "tasks" not in episodes.column_names:
        report.add("episodes", "episode metadata lacks the 'tasks' column", file=EPISODES_DIR)
        return
    known = set(tasks)
    for ep, ep_tasks in zip(episodes["episode_index"].to_pylist(), episodes["tasks"].to_pylist()):
        unknown = [t for t in ep_tasks or [] if t not in known]
        if unknown:
            report.add("tasks", f"episode tasks {unknown} are not in meta/tasks.parquet", episode=ep,
                       file=EPISODES_DIR)


# ---- data/ --------------------------------------------------------------------------------------------
def _check_data(root: Path, info: dict[str, Any], episodes: pa.Table, n_tasks: int | None,
                tolerance_s: float, report: ValidationReport) -> None:
    fps = float(info["fps"])
    by_file: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for row in episodes.select(["episode_index", "length", "dataset_from_index",
                                "data/chunk_index", "data/file_index"]).to_pylist():
        by_file[(row["data/chunk_index"], row["data/file_index"])].append(row)
    expected_columns = [k for k, f in info["features"].items() if f.get("dtype") != "video"]
    total_rows = 0
    for (chunk, file), rows in sorted(by_file.items()):
        rel = info["data_path"].format(chunk_index=chunk, file_index=file)
        path = root / rel
        if not path.is_file():
            for row in rows:
                report.add("files", "data file referenced by the episode is missing", episode=row["episode_index"],
                           file=rel)
            continue
        try:
            schema = pq.read_schema(path)
            missing = [c for c in expected_columns if c not in schema.names]
            if missing:
                report.add("data.schema", f"columns for features {missing} are missing", file=rel)
            table = pq.read_table(path, columns=[c for c in INDEX_COLUMNS if c in schema.names])
        except (OSError, pa.ArrowException) as e:
            report.add("files", f"unreadable parquet: {e}", file=rel)
            continue
        total_rows += table.num_rows
        if "episode_index" not in table.column_names:
            continue
        ep_col = table["episode_index"].to_numpy()
        known = {row["episode_index"] for row in rows}
        stray = sorted(set(np.unique(ep_col).tolist()) - known)
        if stray:
            report.add("data.rows", f"rows of episodes {_short(stray)} whose metadata points elsewhere", file=rel)
        if n_tasks is not None and "task_index" in table.column_names and table.num_rows:
            bad = pc.sum(pc.or_(pc.less(table["task_index"], 0), pc.greater_equal(table["task_index"], n_tasks)))
            if bad.as_py():
                report.add("data.tasks", f"{bad.as_py()} rows have a task_index outside meta/tasks.parquet",
                           file=rel, expected=f"0..{n_tasks - 1}")
        for row in rows:
            _check_episode_rows(table, ep_col == row["episode_index"], row, rel, fps, tolerance_s, report)
    report.checked["frames"] = total_rows


def _check_episode_rows(table: pa.Table, mask: np.ndarray, row: dict, rel: str, fps: float,
                        tolerance_s: float, report: ValidationReport) -> None:
    ep, length, start = row["episode_index"], row["length"], row["dataset_from_index"]
    n = int(mask.sum())
    if n != length:
        report.add("data.rows", "row count differs from the episode length", episode=ep, file=rel,
                   expected=length, actual=n)
        if n == 0:
            return
    cols = {c: table[c].to_numpy()[mask] for c in ("frame_index", "index", "timestamp") if c in table.column_names}
    if "frame_index" in cols:
        fi = cols["frame_index"]
        bad = np.nonzero(fi != np.arange(n))[0]
        if bad.size:
            k = int(bad[0])
            report.add("data.frame_index", f"frame_index not 0,1,2,... at row {k} of the episode", episode=ep,
                       file=rel, expected=k, actual=int(fi[k]))
    if "index" in cols:
        gi = cols["index"]
        bad = np.nonzero(gi != np.arange(start, start + n))[0]
        if bad.size:
            k = int(bad[0])
            report.add("data.index", f"global index not continuous at row {k} of the episode", episode=ep,
                       file=rel, expected=start + k, actual=int(gi[k]))
    if "timestamp" in cols:
        ts = cols["timestamp"].astype(np.float64)
        err = np.abs(ts - np.arange(n) / fps)
        bad = np.nonzero(err > tolerance_s)[0]
        if bad.size:
            k = int(bad[0])
            report.add("data.timestamps", f"timestamp of frame {k} is not {k}/fps (fps={fps:g}, tolerance "
                       f"{tolerance_s:g}s; {bad.size} frames off)", episode=ep, file=rel,
                       expected=round(k / fps, 6), actual=round(float(ts[k]), 6))


# ---- videos/ ------------------------------------------------------------------------------------------
def _video_frame_times(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        meta = {"codec": stream.codec_context.name, "width": stream.width, "height": stream.height,
                "declared_frames": stream.frames}
        tb = float(stream.time_base)
        pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
    return np.sort(np.asarray(pts, dtype=np.float64) * tb), meta


def _check_videos(root: Path, info: dict[str, Any], episodes: pa.Table, tolerance_s: float,
                  report: ValidationReport) -> None:
    keys = video_keys(info)
    if not keys:
        return
    if "video_path" not in info or not info["video_path"]:
        report.add("info", "video features but no video_path template", file=INFO_PATH)
        return
    fps = float(info["fps"])
    half = 0.5 / fps
    n_files = 0
    for key in keys:
        cols = [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
        by_file: dict[tuple[int, int], list[dict]] = defaultdict(list)
        for row in episodes.select(["episode_index", "length", *cols]).to_pylist():
            by_file[(row[cols[0]], row[cols[1]])].append(row)
        shape = info["features"][key].get("shape")
        for (chunk, file), rows in sorted(by_file.items()):
            rel = info["video_path"].format(video_key=key, chunk_index=chunk, file_index=file)
            path = root / rel
            if not path.is_file():
                for row in rows:
                    report.add("files", f"video file of {key} referenced by the episode is missing",
                               episode=row["episode_index"], file=rel)
                continue
            n_files += 1
            try:
                times, meta = _video_frame_times(path)
            except Exception as e:  # PyAV raises many types (av.error.*, OSError, IndexError)
                report.add("videos", f"unreadable video: {type(e).__name__}: {e}", file=rel)
                continue
            if meta["declared_frames"] and len(times) < meta["declared_frames"]:
                report.add("videos", "file is truncated: fewer frames readable than its header declares",
                           file=rel, expected=meta["declared_frames"], actual=len(times))
            if shape and len(shape) == 3 and (meta["height"], meta["width"]) != (shape[0], shape[1]):
                report.add("videos", f"resolution differs from feature {key}", file=rel,
                           expected=f"{shape[1]}x{shape[0]}", actual=f"{meta['width']}x{meta['height']}")
            for row in rows:
                ep, length = row["episode_index"], row["length"]
                t0, t1 = row[cols[2]], row[cols[3]]
                if t0 is None or t1 is None or t1 < t0:
                    report.add("videos", f"invalid from/to timestamps for {key}", episode=ep, file=rel,
                               actual=(t0, t1))
                    continue
                duration = t1 - t0
                if abs(duration - length / fps) > max(tolerance_s, 1e-6) + 1e-9:
                    report.add("videos", f"{key} duration (to_timestamp - from_timestamp) != length / fps",
                               episode=ep, file=rel, expected=round(length / fps, 6), actual=round(duration, 6))
                n = int(np.count_nonzero((times >= t0 - half) & (times < t1 - half)))
                if n != length:
                    report.add("videos", f"{key} frame count in [from_timestamp, to_timestamp) differs from the "
                               "episode length", episode=ep, file=rel, expected=length, actual=n)
    report.checked["video files"] = n_files


# ---- stats --------------------------------------------------------------------------------------------
def _stat_features(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: f for k, f in info["features"].items() if f.get("dtype") not in NO_STATS_DTYPES}


def _expected_stat_shape(feature: dict[str, Any]) -> tuple[int, ...]:
    if feature["dtype"] in ("image", "video"):
        shape = feature["shape"]  # (h, w, c) as upstream writes; (c, h, w) tolerated
        channels = shape[-1] if shape[-1] in (1, 3, 4) else shape[0]
        return (int(channels), 1, 1)
    return tuple(int(s) for s in feature["shape"])


def _check_stats(root: Path, info: dict[str, Any], report: ValidationReport) -> None:
    path = root / STATS_PATH
    if not path.is_file():
        report.add("stats", "missing: normalization needs meta/stats.json", file=STATS_PATH)
        return
    try:
        stats = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        report.add("stats", f"not valid JSON: {e}", file=STATS_PATH)
        return
    total = info["total_frames"]
    for key, feature in _stat_features(info).items():
        if key not in stats:
            report.add("stats", f"no stats for feature {key!r}", file=STATS_PATH)
            continue
        entry = stats[key]
        missing = [s for s in STAT_KEYS if s not in entry]
        if missing:
            report.add("stats", f"{key}: missing {missing}", file=STATS_PATH)
            continue
        try:
            arrays = {s: np.asarray(entry[s], dtype=np.float64) for s in entry}
        except (TypeError, ValueError) as e:
            report.add("stats", f"{key}: non-numeric values: {e}", file=STATS_PATH)
            continue
        want = _expected_stat_shape(feature)
        for s in ("min", "max", "mean", "std"):
            if arrays[s].shape != want:
                report.add("stats", f"{key}/{s} shape does not match the feature", file=STATS_PATH,
                           expected=list(want), actual=list(arrays[s].shape))
        count = arrays["count"].reshape(-1)
        if not _count_ok(count.tolist(), total, feature):
            report.add("stats", f"{key}/count differs from total_frames", file=STATS_PATH,
                       expected=[total] if feature["dtype"] not in VISUAL_DTYPES else f"[1..{total}]",
                       actual=count.tolist())
        if all(arrays[s].shape == want for s in ("min", "max", "mean", "std")):
            if not all(np.isfinite(arrays[s]).all() for s in ("min", "max", "mean", "std")):
                report.add("stats", f"{key}: NaN or infinite statistics", file=STATS_PATH)
            elif (arrays["min"] > arrays["max"] + 1e-9).any() or (arrays["std"] < 0).any() or \
                    (arrays["mean"] < arrays["min"] - 1e-6).any() or (arrays["mean"] > arrays["max"] + 1e-6).any():
                report.add("stats", f"{key}: inconsistent (need min <= mean <= max, std >= 0)", file=STATS_PATH)
    report.checked["stats features"] = len(stats)


def _check_episode_stats(info: dict[str, Any], episodes: pa.Table, report: ValidationReport) -> None:
    names = set(episodes.column_names)
    for key in _stat_features(info):
        missing = [s for s in STAT_KEYS if f"stats/{key}/{s}" not in names]
        if missing:
            report.add("stats", f"per-episode stats of {key!r} missing {missing}", file=EPISODES_DIR)
            continue
        counts = episodes[f"stats/{key}/count"].to_pylist()
        for ep, length, count in zip(episodes["episode_index"].to_pylist(), episodes["length"].to_pylist(), counts):
            value = count if isinstance(count, list) else [count]
            if not _count_ok(value, length, info["features"][key]):
                report.add("stats", f"per-episode stats/{key}/count differs from the length", episode=ep,
                           file=EPISODES_DIR, expected=length, actual=value)


def _count_ok(count: list, n_frames: int, feature: dict[str, Any]) -> bool:
    """Counts equal the frame count, except images/videos whose stats may come from a frame sample."""
    if len(count) != 1 or count[0] is None:
        return False
    if feature["dtype"] in VISUAL_DTYPES:
        return 0 < int(count[0]) <= n_frames
    return int(count[0]) == n_frames


# ---- helpers ------------------------------------------------------------------------------------------
def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _short(values: list, limit: int = 8) -> str:
    text = ", ".join(str(v) for v in values[:limit])
    return f"[{text}{', ...' if len(values) > limit else ''}]"


__all__ = ["Finding", "ValidationReport", "validate_dataset"]
