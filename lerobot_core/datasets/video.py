"""Video I/O for datasets: frame decoding (PyAV, or torchcodec when installed), a bounded LRU decoder
cache, stream info, per-episode encoders (streaming and batch) and lossless MP4 concatenation.

Decoding keeps each file's demuxer/decoder open (LRU, default 100 entries, env
``LEROBOT_VIDEO_DECODER_CACHE_SIZE``) and remembers where it stopped: sequential reads continue
decoding forward, random reads seek to the nearest preceding keyframe.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import queue
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from lerobot_core.datasets.video_config import VideoEncoderConfig, camera_encoder_defaults

logger = logging.getLogger(__name__)
# SVT-AV1 prints its banner and config to stderr for every episode; keep only its errors unless asked.
os.environ.setdefault("SVT_LOG", "1")

DEFAULT_DECODER_CACHE_SIZE = 100
DECODER_CACHE_SIZE_ENV = "LEROBOT_VIDEO_DECODER_CACHE_SIZE"
# Forward-decoding is cheaper than a seek for targets at most this many frames ahead.
SEQUENTIAL_WINDOW_FRAMES = 8


class FrameTimestampError(ValueError):
    """A requested timestamp has no decoded frame within ``tolerance_s``."""


def get_safe_default_video_backend() -> str:
    return "torchcodec" if importlib.util.find_spec("torchcodec") is not None else "pyav"


# --------------------------------------------------------------------------------------------- decoding
class PyAVVideoReader:
    """One open video file; returns RGB uint8 frames (HWC) nearest to requested timestamps."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.container = av.open(self.path)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "SLICE"
        self.stream.codec_context.thread_count = 1  # random access: threads only add start-up latency
        self.time_base = float(self.stream.time_base)
        rate = self.stream.average_rate or self.stream.guessed_rate or 30
        self.frame_period = 1.0 / float(rate)
        self._frames: Any = None  # live decode iterator
        self._last: list | None = None  # last decoded [ts, frame, rgb or None]
        self.stamp: tuple = ()
        self.reformatter = VideoReformatter()
        self.planar_reformatter = VideoReformatter()
        self.lock = threading.Lock()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()

    def _seek(self, ts: float) -> None:
        target = max(0, round(ts / self.time_base))
        self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        self._frames = self.container.decode(self.stream)
        self._last = None

    def _next(self) -> list | None:
        for frame in self._frames:
            if frame.pts is not None:
                return [frame.pts * self.time_base, frame, None]
        return None

    def _rgb(self, entry: list) -> np.ndarray:
        if entry[2] is None:  # one reformatter per file: its swscale context is set up once, not per frame
            entry[2] = self.reformatter.reformat(entry[1], format="rgb24").to_ndarray()
        return entry[2]

    def float_chw_into(self, entry: list, out: np.ndarray) -> None:
        """Write the frame as float32 RGB (3, H, W) in [0, 1] into ``out``: planar GBR from swscale (the same
        values as rgb24) divided plane by plane, which avoids a strided HWC -> CHW pass."""
        planar = self.planar_reformatter.reformat(entry[1], format="gbrp")
        for channel, plane in zip((1, 2, 0), planar.planes):  # gbrp planes are G, B, R
            src = np.frombuffer(plane, np.uint8).reshape(planar.height, plane.line_size)[:, : planar.width]
            np.divide(src, np.float32(255), out=out[channel], dtype=np.float32)

    def frame_at(self, ts: float) -> tuple[float, np.ndarray]:
        """Decode the frame nearest to ``ts``: returns (frame timestamp, HWC uint8 RGB)."""
        found, entry = self.entry_at(ts)
        return found, self._rgb(entry)

    def entry_at(self, ts: float) -> tuple[float, list]:
        """Decode the frame nearest to ``ts``: returns (frame timestamp, [ts, frame, rgb or None])."""
        half = self.frame_period / 2
        last = self._last
        if last is not None and abs(last[0] - ts) < half:
            return last[0], last
        ahead = (
            last is not None
            and self._frames is not None
            and last[0] < ts <= last[0] + SEQUENTIAL_WINDOW_FRAMES * self.frame_period
        )
        if not ahead:
            self._seek(ts)
            last = None
        while True:
            current = self._next()
            if current is None:
                break
            self._last = current
            if current[0] >= ts - half:
                if last is not None and abs(last[0] - ts) < abs(current[0] - ts):
                    return last[0], last
                return current[0], current
            last = current
        self._frames = None
        if last is not None:
            return last[0], last
        raise FrameTimestampError(f"no frame decoded at or after {ts:.6f}s in {self.path}")


def _parse_cache_size(raw: str | None) -> int | None:
    if raw is None:
        return DEFAULT_DECODER_CACHE_SIZE
    text = raw.strip().lower()
    if text in ("", "none", "unbounded", "-1"):
        return None
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size <= 0:
        raise ValueError(
            f"{DECODER_CACHE_SIZE_ENV}={raw!r}: expected a positive integer, or 'none'/'unbounded'/'-1' for no limit"
        )
    return size


_INHERITED: list[Any] = []
_CACHES: weakref.WeakSet = weakref.WeakSet()


class VideoDecoderCache:
    """Thread-safe LRU of open video readers; evicted readers are closed.

    ``max_size``: entries kept (default 100 or ``$LEROBOT_VIDEO_DECODER_CACHE_SIZE``); None = unbounded.
    The cache is per process: after a fork (DataLoader workers) it starts empty.
    """

    _UNSET = object()

    def __init__(self, max_size: Any = _UNSET):
        self.max_size = _parse_cache_size(os.environ.get(DECODER_CACHE_SIZE_ENV)) if max_size is self._UNSET else max_size
        if self.max_size is not None and self.max_size <= 0:
            raise ValueError(f"max_size must be a positive int or None, got {self.max_size!r}")
        self._readers: OrderedDict[str, PyAVVideoReader] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        _CACHES.add(self)

    def _check_pid(self) -> None:
        if os.getpid() != self._pid:  # forked without the at-fork hook (e.g. os.fork from C code)
            self._after_fork()

    def _after_fork(self) -> None:
        # The parent's decoders are not ours to use, and closing a decoder copied mid-state through fork
        # (its threads do not exist here) can hang: keep the inherited objects alive, unused.
        _INHERITED.append(self._readers)
        self._readers = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def __contains__(self, path: object) -> bool:
        return str(path) in self._readers

    def __len__(self) -> int:
        return len(self._readers)

    def get_decoder(self, path: str | Path, factory: Callable[[str], Any] | None = None) -> Any:
        """The open reader for ``path``; a file replaced since it was opened (appended episodes) is reopened."""
        self._check_pid()
        factory = factory or PyAVVideoReader
        name = str(path)
        key = name if factory is PyAVVideoReader else f"{getattr(factory, '__name__', 'decoder')}:{name}"
        stat = os.stat(name)
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            reader = self._readers.get(key)
            if reader is not None and reader.stamp == stamp:
                self._readers.move_to_end(key)
                return reader
            if reader is not None:
                self._readers.pop(key).close()
            reader = factory(name)
            reader.stamp = stamp
            self._readers[key] = reader
            while self.max_size is not None and len(self._readers) > self.max_size:
                _, old = self._readers.popitem(last=False)
                old.close()
            return reader

    def clear(self) -> None:
        with self._lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()


_DEFAULT_CACHE: VideoDecoderCache | None = None


def default_decoder_cache() -> VideoDecoderCache:
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = VideoDecoderCache()
    return _DEFAULT_CACHE


def _check_tolerance(path: str, queries: list[float], found: list[float], tolerance_s: float, backend: str) -> None:
    for query, ts in zip(queries, found):
        if abs(query - ts) > tolerance_s:
            raise FrameTimestampError(
                f"One or several query timestamps unexpectedly violate the tolerance: query {query:.6f}s, "
                f"nearest frame {ts:.6f}s (|diff| {abs(query - ts):.6f}s > tolerance_s={tolerance_s}) in {path} "
                f"(backend: {backend}). The video may be missing frames or the dataset timestamps may not "
                "sit on the 1/fps grid; check it with `lerobot-core dataset validate`, or raise tolerance_s."
            )


def _decode_hwc(
    video_path: str | Path, timestamps: list[float], tolerance_s: float, cache: VideoDecoderCache | None
) -> list[np.ndarray]:
    reader = (cache or default_decoder_cache()).get_decoder(video_path)
    with reader.lock:
        order = sorted(range(len(timestamps)), key=lambda i: timestamps[i])
        found = [0.0] * len(timestamps)
        images: list[Any] = [None] * len(timestamps)
        for i in order:
            found[i], images[i] = reader.frame_at(float(timestamps[i]))
    _check_tolerance(str(video_path), [float(t) for t in timestamps], found, tolerance_s, "pyav")
    return images


def decode_video_frames_uint8(
    video_path: str | Path,
    timestamps: list[float],
    tolerance_s: float,
    backend: str = "pyav",
    cache: VideoDecoderCache | None = None,
) -> torch.Tensor:
    """Frames nearest to ``timestamps`` as a uint8 tensor (N, 3, H, W)."""
    if backend == "torchcodec":
        return _decode_torchcodec(video_path, timestamps, tolerance_s, cache)
    if backend not in ("pyav", "video_reader"):
        raise ValueError(f"unknown video backend {backend!r}: expected 'pyav' or 'torchcodec'")
    images = _decode_hwc(video_path, timestamps, tolerance_s, cache)
    return torch.from_numpy(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2)))


class TorchCodecReader:
    """A cached torchcodec ``VideoDecoder`` (used when torchcodec is installed and selected)."""

    def __init__(self, path: str):
        from torchcodec.decoders import VideoDecoder  # optional dependency

        self.decoder = VideoDecoder(path, seek_mode="approximate")
        self.lock = threading.Lock()
        self.stamp: tuple = ()

    def close(self) -> None:
        self.decoder = None


def _decode_torchcodec(
    video_path: str | Path, timestamps: list[float], tolerance_s: float, cache: VideoDecoderCache | None = None
) -> torch.Tensor:
    reader = (cache or default_decoder_cache()).get_decoder(video_path, TorchCodecReader)
    with reader.lock:
        batch = reader.decoder.get_frames_played_at(seconds=[float(t) for t in timestamps])
    found = [float(t) for t in batch.pts_seconds]
    _check_tolerance(str(video_path), [float(t) for t in timestamps], found, tolerance_s, "torchcodec")
    return batch.data


def decode_video_frames(
    video_path: str | Path,
    timestamps: list[float],
    tolerance_s: float,
    backend: str | None = None,
    cache: VideoDecoderCache | None = None,
) -> torch.Tensor:
    """Frames nearest to ``timestamps`` as float32 (N, 3, H, W) in [0, 1], like upstream."""
    backend = backend or "pyav"
    if backend != "pyav":
        return decode_video_frames_uint8(video_path, timestamps, tolerance_s, backend, cache).type(torch.float32) / 255
    reader = (cache or default_decoder_cache()).get_decoder(video_path)
    with reader.lock:
        found = [0.0] * len(timestamps)
        out: np.ndarray | None = None
        for i in sorted(range(len(timestamps)), key=lambda i: timestamps[i]):
            found[i], entry = reader.entry_at(float(timestamps[i]))
            if out is None:
                out = np.empty((len(timestamps), 3, entry[1].height, entry[1].width), dtype=np.float32)
            reader.float_chw_into(entry, out[i])
    _check_tolerance(str(video_path), [float(t) for t in timestamps], found, tolerance_s, "pyav")
    return torch.from_numpy(out)


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _decode_pool() -> ThreadPoolExecutor:
    """Threads that decode several cameras of one item at once (PyAV releases the GIL while decoding)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():  # never reuse a pool inherited through fork
        _INHERITED.append(_POOL)
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2), thread_name_prefix="decode"))
    return _POOL[1]


def _reset_after_fork() -> None:
    global _POOL
    for cache in list(_CACHES):
        cache._after_fork()
    if _POOL is not None:
        _INHERITED.append(_POOL)
        _POOL = None


os.register_at_fork(after_in_child=_reset_after_fork)


def decode_many(
    jobs: dict[str, tuple[str | Path, list[float]]], tolerance_s: float, backend: str | None = None
) -> dict[str, torch.Tensor]:
    """Decode ``{key: (video_path, timestamps)}``, several files in parallel; float32 (N, 3, H, W) each."""
    if len(jobs) <= 1 or (backend or "pyav") != "pyav":
        return {k: decode_video_frames(p, ts, tolerance_s, backend) for k, (p, ts) in jobs.items()}
    pool = _decode_pool()
    futures = {k: pool.submit(decode_video_frames, p, ts, tolerance_s, backend) for k, (p, ts) in jobs.items()}
    return {k: f.result() for k, f in futures.items()}


# ------------------------------------------------------------------------------------------ stream info
def _pix_fmt_channels(pix_fmt: str) -> int:
    if pix_fmt.startswith(("gray", "y8", "mono")):
        return 1
    if pix_fmt.startswith(("rgba", "bgra", "argb", "abgr", "yuva")):
        return 4
    return 3


def get_video_info(video_path: str | Path, camera_encoder: VideoEncoderConfig | None = None) -> dict[str, Any]:
    """The ``info`` block of a video feature: stream fields, then the encoder fields (stream wins)."""
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        pix_fmt = stream.codec_context.pix_fmt or (stream.format.name if stream.format else "yuv420p")
        info: dict[str, Any] = {
            "video.height": stream.codec_context.height,
            "video.width": stream.codec_context.width,
            "video.codec": stream.codec_context.codec.canonical_name,
            "video.pix_fmt": pix_fmt,
            "video.is_depth_map": False,
            "video.fps": int(rate) if float(rate).is_integer() else float(rate),
            "video.channels": _pix_fmt_channels(pix_fmt),
            "has_audio": bool(container.streams.audio),
        }
    if camera_encoder is not None:
        for key, value in camera_encoder.info_fields().items():
            info.setdefault(key, value)
    return info


def count_video_frames(video_path: str | Path) -> int:
    with av.open(str(video_path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size and p.pts is not None)


# ------------------------------------------------------------------------------------------- encoding
_X265_MIN_WIDTH = 64


class EpisodeVideoWriter:
    """Encodes RGB uint8 frames of one camera and one episode into ``path`` (MP4)."""

    def __init__(
        self,
        path: str | Path,
        fps: int,
        height: int,
        width: int,
        camera_encoder: VideoEncoderConfig | None = None,
        encoder_threads: int | None = None,
    ):
        self.camera_encoder = camera_encoder or camera_encoder_defaults()
        if av.codec.Codec(self.camera_encoder.vcodec, "w").name == "libx265" and width < _X265_MIN_WIDTH:
            # libx265 corrupts the heap (and kills the process) on frames narrower than its 64-pixel CTU.
            raise ValueError(
                f"camera_encoder.vcodec={self.camera_encoder.vcodec!r} (libx265) needs frames at least "
                f"{_X265_MIN_WIDTH} pixels wide, got {width}x{height}: use a larger image or vcodec='libsvtav1'/'h264'."
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.container = av.open(str(self.path), mode="w", format="mp4")
        options = self.camera_encoder.get_codec_options(encoder_threads, as_strings=True)
        self.stream = self.container.add_stream(self.camera_encoder.vcodec, rate=fps, options=options)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = self.camera_encoder.pix_fmt
        self.time_base = Fraction(1, fps)
        self.frames_written = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        self.path.unlink(missing_ok=True)


_STOP = object()


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux: per thread; threads it starts inherit it).

    A live recorder encodes at a lower priority than it receives and synchronizes: on a small machine the
    encoder catches up behind its bounded queue, while reception must never wait for it. No-op elsewhere.
    """
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


class _CameraEncoderThread(threading.Thread):
    """Consumes (frame_index, rgb) from a bounded queue; fills gaps left by dropped frames with the
    previous frame so the video keeps exactly one frame per dataset row."""

    def __init__(self, key: str, path: Path, make_writer: Callable[[], EpisodeVideoWriter], frame_queue: queue.Queue,
                 nice: int = 0):
        super().__init__(name=f"encoder-{key}", daemon=True)
        self.nice = nice
        self.key = key
        self.path = path
        self._make_writer = make_writer
        self.writer: EpisodeVideoWriter | None = None
        self.queue = frame_queue
        self.error: BaseException | None = None
        self.total_frames: int | None = None
        self._last: np.ndarray | None = None

    def run(self) -> None:
        try:
            lower_thread_priority(self.nice)  # before the codec starts its worker threads: they inherit it
            # Opening the encoder (SVT-AV1 set-up takes tens of ms) happens here, never in add_frame.
            self.writer = writer = self._make_writer()
            while True:
                item = self.queue.get()
                if item is _STOP:
                    break
                index, rgb = item
                if index is None:  # end of episode marker with the final frame count
                    self.total_frames = rgb
                    continue
                missing = index - writer.frames_written
                for _ in range(missing):
                    writer.write(self._last if self._last is not None else rgb)
                writer.write(rgb)
                self._last = rgb
            if self.total_frames is not None and self._last is not None:
                while writer.frames_written < self.total_frames:
                    writer.write(self._last)
            writer.close()
        except BaseException as e:  # surfaced by StreamingVideoEncoder.feed / finish_episode
            self.error = e
            _drain(self.queue)
            if self.writer is not None:
                self.writer.abort()


class StreamingVideoEncoder:
    """Encodes camera frames while an episode is recorded: one thread and one bounded queue per camera.

    ``feed`` never blocks: when a camera's queue is full the frame is dropped, counted in
    ``dropped_frames[key]`` (and ``total_dropped_frames``), logged, and replaced in the video by the
    previous frame, so frame count and timestamps stay aligned with the data rows.
    """

    def __init__(
        self,
        fps: int,
        camera_encoder: VideoEncoderConfig | None = None,
        queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        encoder_nice: int = 0,
    ):
        self.fps = fps
        self.camera_encoder = camera_encoder or camera_encoder_defaults()
        self.queue_maxsize = queue_maxsize
        self.encoder_threads = encoder_threads
        self.encoder_nice = encoder_nice
        self._threads: dict[str, _CameraEncoderThread] = {}
        self._queues: dict[str, queue.Queue] = {}
        self.dropped_frames: dict[str, int] = {}
        self.total_dropped_frames: dict[str, int] = {}

    @property
    def active(self) -> bool:
        return bool(self._threads)

    def start_episode(self, outputs: dict[str, tuple[Path, int, int]]) -> None:
        """``outputs``: video key -> (temporary mp4 path, height, width)."""
        self.cancel_episode()
        for key, (path, height, width) in outputs.items():
            make_writer = functools.partial(
                EpisodeVideoWriter, path, self.fps, height, width, self.camera_encoder, self.encoder_threads
            )
            q: queue.Queue = queue.Queue(maxsize=self.queue_maxsize)
            thread = _CameraEncoderThread(key, Path(path), make_writer, q, self.encoder_nice)
            thread.start()
            self._threads[key], self._queues[key] = thread, q
            self.dropped_frames[key] = 0
            self.total_dropped_frames.setdefault(key, 0)

    def backlog(self) -> int:
        """Frames waiting in the fullest camera queue."""
        return max((q.qsize() for q in self._queues.values()), default=0)

    def feed(self, key: str, frame_index: int, rgb: np.ndarray) -> bool:
        """Queue one frame; False (and counted) when it had to be dropped."""
        thread = self._threads[key]
        if thread.error is not None:
            raise RuntimeError(f"video encoder for {key!r} failed: {thread.error}") from thread.error
        try:
            self._queues[key].put_nowait((frame_index, rgb))
            return True
        except queue.Full:
            self.dropped_frames[key] += 1
            self.total_dropped_frames[key] += 1
            if self.dropped_frames[key] in (1, 10, 100) or self.dropped_frames[key] % 1000 == 0:
                logger.warning(
                    "video encoder for %r cannot keep up: %d frame(s) dropped this episode (replaced by the "
                    "previous frame); lower the resolution/fps, use a faster preset or raise encoder_queue_maxsize",
                    key,
                    self.dropped_frames[key],
                )
            return False

    def finish_episode(self, num_frames: int) -> dict[str, Path]:
        """Flush and close every camera's video; returns key -> mp4 path. Blocks until encoded."""
        paths = {}
        for key in self._threads:
            self._queues[key].put((None, num_frames))
            self._queues[key].put(_STOP)
        errors = []
        for key, thread in self._threads.items():
            thread.join()
            if thread.error is not None:
                errors.append(f"{key}: {thread.error}")
            paths[key] = thread.path
        self._threads, self._queues = {}, {}
        if errors:
            for path in paths.values():
                path.unlink(missing_ok=True)
            raise RuntimeError("video encoding failed: " + "; ".join(errors))
        return paths

    def cancel_episode(self) -> None:
        for key in self._threads:
            _drain(self._queues[key])
            self._queues[key].put(_STOP)
        for thread in self._threads.values():
            thread.join()
            thread.path.unlink(missing_ok=True)
        self._threads, self._queues = {}, {}


def _drain(q: queue.Queue) -> None:
    with contextlib.suppress(queue.Empty):
        while True:
            q.get_nowait()


def encode_raw_frames(
    raw_path: Path,
    out_path: Path,
    num_frames: int,
    height: int,
    width: int,
    fps: int,
    camera_encoder: VideoEncoderConfig | None = None,
    encoder_threads: int | None = None,
) -> Path:
    """Batch-encode ``num_frames`` HWC RGB frames stored back to back in ``raw_path``.

    Frames are read one at a time into a reused buffer (no memory map), so memory stays flat.
    """
    writer = EpisodeVideoWriter(out_path, fps, height, width, camera_encoder, encoder_threads)
    try:
        with open(raw_path, "rb") as raw:
            for _ in range(num_frames):
                buffer = np.empty((height, width, 3), dtype=np.uint8)
                if raw.readinto(memoryview(buffer).cast("B")) != buffer.nbytes:
                    raise OSError(f"{raw_path}: staged frames are truncated (expected {num_frames})")
                writer.write(buffer)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return out_path


# ---------------------------------------------------------------------------------------- concatenation
def concatenate_videos(inputs: list[tuple[Path, float]], output: Path, max_duration_s: float | None = None) -> None:
    """Remux (no re-encoding) ``inputs`` = [(mp4, duration_s)] back to back into ``output``.

    Each input's packets are shifted by the durations before it; packets at or past ``max_duration_s``
    of an input are left out (used to cut off frames of an episode that was never committed).
    """
    first = av.open(str(inputs[0][0]))
    try:
        template = first.streams.video[0]
        with av.open(str(output), mode="w", format="mp4") as out:
            out_stream = out.add_stream_from_template(template, opaque=True)
            offset_s = 0.0
            for index, (path, duration_s) in enumerate(inputs):
                src = first if index == 0 else av.open(str(path))
                try:
                    stream = src.streams.video[0]
                    if (stream.codec_context.width, stream.codec_context.height) != (
                        template.codec_context.width,
                        template.codec_context.height,
                    ):
                        raise ValueError(f"cannot concatenate {path}: frame size differs from {inputs[0][0]}")
                    tb = stream.time_base
                    shift = round(offset_s / float(tb))
                    limit = None if max_duration_s is None else round(duration_s / float(tb))
                    for packet in src.demux(stream):
                        if packet.dts is None and packet.pts is None:
                            continue
                        if limit is not None and packet.pts is not None and packet.pts >= limit - 0.5:
                            continue
                        if packet.pts is not None:
                            packet.pts += shift
                        if packet.dts is not None:
                            packet.dts += shift
                        packet.stream = out_stream
                        packet.time_base = tb
                        out.mux(packet)
                finally:
                    if index != 0:
                        src.close()
                offset_s += duration_s
    finally:
        first.close()
