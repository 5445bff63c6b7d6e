"""`DatasetRecorder`: synchronized streams → `LeRobotDataset` episodes, with per-episode integrity reports.

Drivers (the ``recorder`` node, the bag converter) push stamped payloads per stream (``state``, ``action``,
``camera:<key>``, ``task``) and call ``advance(now)``; payloads are message objects or CDR bytes that the
driver's ``deserialize(payload, msgtype)`` turns into message objects, decoded only for frames that are kept.
With ``threaded=True`` decoding, ``add_frame`` and saving run on one worker thread behind a bounded queue:
``push``/``advance`` never wait; a frame that finds the queue full is dropped and counted (backpressure).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_core.recording.decode import UnitConverter, decode_image, joint_vector, resize_image
from lerobot_core.recording.mapping import JOINT_STATE, RecordingConfig
from lerobot_core.recording.sync import StreamSpec, Synchronizer, Tick
from lerobot_core.utils.io import atomic_write_json, atomic_write_text

__all__ = ["REPORT_PATH", "DatasetRecorder", "message_to_dict"]

logger = logging.getLogger(__name__)
REPORT_PATH = "meta/recording_report.json"
STICKY_NS = 10**18
_STOP = object()


def message_to_dict(msg: Any) -> Any:
    """A rosbags message object as JSON-able nested dicts/lists (``__msgtype__`` kept)."""
    if is_dataclass(msg):
        out = {f.name: message_to_dict(getattr(msg, f.name)) for f in fields(msg)}
        if hasattr(msg, "__msgtype__"):
            out = {"__msgtype__": msg.__msgtype__, **out}
        return out
    if isinstance(msg, np.ndarray):
        return msg.tolist()
    if isinstance(msg, (list, tuple)):
        return [message_to_dict(m) for m in msg]
    if isinstance(msg, np.generic):
        return msg.item()
    return msg


class DatasetRecorder:
    """See the module docstring. ``topics()`` lists what a driver subscribes to."""

    def __init__(self, config: RecordingConfig, *, deserialize: Callable[[Any, str], Any] | None = None,
                 threaded: bool = False, queue_size: int | None = None, log: Callable[[str], None] | None = None,
                 root: str | Path | None = None,
                 transport_lost: Callable[[], dict[str, int]] | None = None) -> None:  # fmt: skip
        self.config = config
        # per-stream counts of samples lost in transport (the driver's sequence-number gaps); reported per episode
        self.transport_lost = transport_lost
        self._lost_at_start: dict[str, int] = {}
        self.deserialize = deserialize or (lambda payload, _msgtype: payload)
        self.log = log or logger.info
        self.root = Path(root or config.dataset.root or _default_root(config.dataset.repo_id))
        period_ns = round(1e9 / config.fps)
        tol = {}
        self.types: dict[str, str] = {"state": JOINT_STATE}
        self.topic_of: dict[str, str] = {"state": config.state.topic}
        specs = {"state": StreamSpec(round(config.stream_tolerance_s(config.state.tolerance_s) * 1e9))}
        if config.action is not None:
            self.types["action"] = config.action.type
            self.topic_of["action"] = config.action.topic
            tol["action"] = config.action.tolerance_s
            specs["action"] = StreamSpec(round(config.action.tolerance_s * 1e9) if config.action.tolerance_s
                                         else STICKY_NS)  # fmt: skip
        for cam in config.cameras:
            name = f"camera:{cam.key}"
            self.types[name] = cam.type
            self.topic_of[name] = cam.topic
            specs[name] = StreamSpec(round(config.stream_tolerance_s(cam.tolerance_s) * 1e9), unique=True)
        if config.task_topic:
            self.types["task"] = "std_msgs/msg/String"
            self.topic_of["task"] = config.task_topic
            specs["task"] = StreamSpec(STICKY_NS, required=False)
        reference = f"camera:{config.cameras[0].key}" if config.cameras else "state"
        self.sync = Synchronizer(config.fps, specs, reference=reference, latency_ns=round(config.latency_s * 1e9))
        self.period_ns = period_ns
        self.units = UnitConverter(config.state.units, config.state.calibration, config.state.gripper)
        self.dataset: Any = None
        self.camera_shapes: dict[str, tuple[int, int]] = {
            c.key: s for c in config.cameras if (s := config.camera_shape(c)) is not None}  # fmt: skip
        self.reports: list[dict[str, Any]] = []
        self.meta_files: dict[str, str] = {}
        self.episode_index: int | None = None  # index the running episode will get when saved
        self.frames_in_episode = 0
        self.queue_full_drops = 0
        self.queue_max_depth = 0
        self.encoder_backlog_max = 0
        self.error: BaseException | None = None
        self.finished = False
        self.threaded = threaded
        self._queue: queue.Queue | None = None
        self._worker: threading.Thread | None = None
        if threaded:
            import lerobot_core.datasets  # noqa: F401  (now, not at the first frame: torch takes seconds to import)

            self._queue = queue.Queue(maxsize=queue_size or 2 * config.fps)
            self._worker = threading.Thread(target=self._run_worker, name="recorder-writer", daemon=True)
            self._worker.start()

    # ------------------------------------------------------------------------------------------- streams
    def topics(self) -> list[tuple[str, str, str]]:
        """``(stream, topic, msgtype)`` for every stream of the mapping."""
        return [(name, self.topic_of[name], self.types[name]) for name in self.types]

    def push(self, stream: str, stamp_ns: int | None, payload: Any, receive_ns: int) -> None:
        """A sample; ``stamp_ns`` is its header stamp (None: no header) — receive time is used when configured."""
        if self.config.stamp == "receive" or stamp_ns is None:
            stamp_ns = receive_ns
        self.sync.push(stream, stamp_ns, payload, receive_ns)

    @property
    def recording(self) -> bool:
        return self.sync.recording

    def start_episode(self, start_ns: int | None, max_ticks: int | None = None) -> None:
        if self.finished:
            raise RuntimeError("the recording was finished; start a new recorder to record more")
        self.frames_in_episode = 0
        self.queue_full_drops = 0
        self.queue_max_depth = 0
        self.encoder_backlog_max = 0
        self._lost_at_start = self.transport_lost() if self.transport_lost else {}
        self.sync.start(start_ns, max_ticks)

    def advance(self, now_ns: int) -> int:
        """Evaluate the due ticks and queue (or write) their frames; returns the frames produced."""
        return self._handle_ticks(self.sync.advance(now_ns))

    def flush(self) -> int:
        return self._handle_ticks(self.sync.flush())

    def _handle_ticks(self, ticks: list[Tick]) -> int:
        produced = 0
        for tick in ticks:
            if tick.samples is None:
                continue
            if self._queue is None:
                self._write_frame(tick)
            else:
                try:
                    self._queue.put_nowait(("frame", tick))
                except queue.Full:
                    self.queue_full_drops += 1
                    continue
                self.queue_max_depth = max(self.queue_max_depth, self._queue.qsize())
            produced += 1
            self.frames_in_episode += 1
        return produced

    # ------------------------------------------------------------------------------------------- control
    def save_episode(self, wait: bool = False) -> None:
        """End the running episode and save it (report appended to ``reports``)."""
        stats = self.sync.stop().to_dict(self.period_ns)
        if self.transport_lost is not None:
            for stream, total in self.transport_lost().items():
                if stream in stats["streams"]:
                    stats["streams"][stream]["transport_lost"] = total - self._lost_at_start.get(stream, 0)
        self._command("save", stats, wait)

    def discard_episode(self, wait: bool = False) -> None:
        self.sync.stop()
        self._command("discard", None, wait)

    def finish(self, push: bool | None = None, wait: bool = True) -> None:
        """Save nothing more, finalize the dataset (and push it when configured)."""
        if self.sync.recording:
            self.discard_episode()
        self._command("finish", self.config.dataset.push_to_hub if push is None else push, wait)
        self.finished = True

    def store_meta(self, name: str, content: str | dict | list) -> None:
        """A file for ``meta/<name>`` (URDF, camera infos, /tf_static), written once the dataset exists."""
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        if self.meta_files.get(name) != text:
            self.meta_files[name] = text
            if self.dataset is not None:
                self._write_meta()

    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def encoder_backlog(self) -> int:
        ds = self.dataset
        return ds.encoder_backlog() if ds is not None else 0

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        if self._queue is not None:
            done = threading.Event()
            self._queue.put(("call", done.set))
            if not done.wait(timeout_s):
                raise TimeoutError(f"recorder writer still busy after {timeout_s} s")
        if self.error is not None:
            raise RuntimeError(f"recording failed: {self.error}") from self.error

    def close(self) -> None:
        if self._queue is not None and self._worker is not None and self._worker.is_alive():
            self._queue.put(_STOP)
            self._worker.join(timeout=120)

    def _command(self, what: str, arg: Any, wait: bool) -> None:
        if self._queue is None:
            self._execute(what, arg)
            return
        done = threading.Event()
        self._queue.put((what, (arg, done)))
        if wait and not done.wait(300):
            raise TimeoutError(f"recorder: `{what}` did not complete in 300 s")
        if wait and self.error is not None:
            raise RuntimeError(f"recording failed: {self.error}") from self.error

    # -------------------------------------------------------------------------------------------- worker
    def _run_worker(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            what, arg = item
            try:
                if what == "frame":
                    if self.error is None:
                        self._write_frame(arg)
                elif what == "call":
                    arg()
                else:
                    value, done = arg
                    try:
                        if self.error is None or what == "finish":
                            self._execute(what, value)
                    finally:
                        done.set()
            except BaseException as exc:  # reported on status and on the next control call
                self.error = exc
                self.log(f"recorder error: {exc!r}")

    def _execute(self, what: str, arg: Any) -> None:
        if what == "save":
            self._save(arg)
        elif what == "discard":
            if self.dataset is not None:
                self.dataset.clear_episode_buffer()
            self.log("episode discarded")
        elif what == "finish" and self.dataset is not None:
            self.dataset.finalize()
            if arg:
                self.log(f"pushing {self.root} to the Hub as {self.config.dataset.repo_id}")
                self.dataset.push_to_hub(private=self.config.dataset.private)

    # ------------------------------------------------------------------------------------------- frames
    def _msg(self, sample: Any, stream: str) -> Any:
        return self.deserialize(sample.payload, self.types[stream])

    def _write_frame(self, tick: Tick) -> None:
        cfg = self.config
        samples = tick.samples
        assert samples is not None
        state = joint_vector(self._msg(samples["state"], "state"), JOINT_STATE, cfg.state.joints, "state")
        frame: dict[str, Any] = {"observation.state": self.units(state, cfg.state.joints).astype(np.float32)}
        if cfg.action is not None:
            action = joint_vector(self._msg(samples["action"], "action"), cfg.action.type, cfg.action_joints, "action")
            frame["action"] = self.units(action, cfg.action_joints).astype(np.float32)
        for cam in cfg.cameras:
            image = decode_image(self._msg(samples[f"camera:{cam.key}"], f"camera:{cam.key}"), cam.type)
            shape = self.camera_shapes.setdefault(cam.key, image.shape[:2])
            frame[cam.feature_key] = resize_image(image, *shape)
        task_sample = samples.get("task")
        frame["task"] = (self._msg(task_sample, "task").data if task_sample is not None else "") or cfg.task
        if self.dataset is None:
            self._open_dataset()
        if self._queue is None:  # offline (bags): wait for the encoders instead of dropping frames
            margin = max(1, self.config.dataset.encoder_queue_maxsize - 2)
            while self.dataset.encoder_backlog() >= margin:
                time.sleep(0.001)
        self.dataset.add_frame(frame)
        self.encoder_backlog_max = max(self.encoder_backlog_max, self.dataset.encoder_backlog())

    def _open_dataset(self) -> None:
        from lerobot_core.datasets import LeRobotDataset

        ds = self.config.dataset
        options = {"camera_encoder": ds.encoder() if not ds.resume else None,
                   "encoder_queue_maxsize": ds.encoder_queue_maxsize,
                   "encoder_threads": ds.encoder_threads or None,
                   "encoder_nice": ds.encoder_nice if self.threaded else 0}  # live only: offline, nothing competes  # fmt: skip
        if ds.resume and (self.root / "meta" / "info.json").exists():
            self.dataset = LeRobotDataset.resume(ds.repo_id, root=self.root, **options)
            self._check_resumed_features()
        else:
            self.dataset = LeRobotDataset.create(ds.repo_id, self.config.fps, self.config.features(self.camera_shapes),
                                                 root=self.root, robot_type=ds.robot_type or None,
                                                 use_videos=ds.use_videos, **options)  # fmt: skip
        self.log(f"dataset {ds.repo_id} at {self.root} ({self.dataset.meta.total_episodes} episode(s) so far)")
        self._write_meta()

    def _check_resumed_features(self) -> None:
        expected = self.config.features(self.camera_shapes)
        have = self.dataset.meta.features
        for key, feat in expected.items():
            got = have.get(key)
            if got is None or list(got["shape"]) != list(feat["shape"]):
                raise ValueError(f"dataset.resume: {self.root} has feature {key} = {got and got['shape']}, the mapping "
                                 f"records {feat['shape']}; record into a new root")  # fmt: skip

    def _write_meta(self) -> None:
        for name, text in list(self.meta_files.items()):  # store_meta may add entries from another thread
            try:
                atomic_write_text(self.root / "meta" / name, text)
            except OSError as exc:  # metadata extras must not stop a recording
                self.log(f"could not write meta/{name}: {exc}")

    def _save(self, stats: dict[str, Any]) -> None:
        if self.dataset is None or not self.dataset.writer or not self.dataset.writer.num_frames:
            self.log(f"episode not saved: no frames (ticks {stats['ticks']}, dropped {stats['dropped_ticks']})")
            return
        t0 = time.monotonic()
        summary = self.dataset.save_episode()
        report = self._report(summary, stats, time.monotonic() - t0)
        self.reports.append(report)
        path = self.root / REPORT_PATH
        existing = json.loads(path.read_text()).get("episodes", []) if path.exists() else []
        existing = [r for r in existing if r.get("episode_index") != report["episode_index"]]
        atomic_write_json(path, {"episodes": [*existing, report]}, indent=2)
        self.log(summarize_report(report))

    def _report(self, summary: dict[str, Any], stats: dict[str, Any], save_s: float) -> dict[str, Any]:
        streams = {}
        for name, st in stats["streams"].items():
            key = {"state": "observation.state", "action": "action", "task": "task"}.get(
                name, f"observation.images.{name.split(':', 1)[-1]}")
            streams[key] = st
        encoder_drops = summary.get("dropped_frames", {})
        for key, n in encoder_drops.items():
            streams.setdefault(key, {})["encoder_dropped"] = n
        return {
            "episode_index": summary["episode_index"], "length": summary["length"], "fps": self.config.fps,
            "ticks": stats["ticks"], "dropped_ticks": stats["dropped_ticks"],
            "queue_full_drops": self.queue_full_drops, "queue_max_depth": self.queue_max_depth,
            "encoder_backlog_max": self.encoder_backlog_max, "save_s": round(save_s, 3),
            "streams": streams,
        }  # fmt: skip


def summarize_report(report: dict[str, Any]) -> str:
    worst = max((s.get("staleness_max_ms", 0.0) for s in report["streams"].values()), default=0.0)
    cams = ", ".join(f"{k.rsplit('.', 1)[-1]} {s.get('frames', 0)}" for k, s in report["streams"].items()
                     if k.startswith("observation.images."))  # fmt: skip
    return (f"episode {report['episode_index']} saved: {report['length']} frames of {report['ticks']} ticks, "
            f"{report['dropped_ticks']} dropped, queue-full {report['queue_full_drops']}, worst staleness "
            f"{worst:.1f} ms" + (f", cameras: {cams}" if cams else "")
            + (f", lost in transport: {lost}" if (lost := sum(s.get("transport_lost", 0)
                                                                for s in report["streams"].values())) else ""))  # fmt: skip


def _default_root(repo_id: str) -> Path:
    from lerobot_core.datasets.hub import default_root

    return default_root(repo_id)
