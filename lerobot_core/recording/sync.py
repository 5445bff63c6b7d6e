"""Steady-clock synchronization of stamped streams into frames — one implementation for the node and the bag.

Ticks fall every ``1/fps`` on the streams' own clock (header stamps, or receive times). The first tick of an
episode is anchored half a period after the first sample of the *reference* stream (the first camera, else the
state) stamped at or after the episode start (phase: the median of the buffered reference samples), so that with streams published at ``fps`` every sample sits mid-way
between two ticks. A tick at time ``t`` is evaluated once the driver's clock passed ``t + latency`` (late
messages still count) and takes, for every stream, the latest sample stamped at or before ``t``:

- no such sample → the tick is dropped (``missing``);
- older than the stream's tolerance → dropped (``stale``);
- a ``unique`` stream (cameras) whose latest sample was already used by the previous frame → dropped
  (``repeat``): a frame is never filled with a silent duplicate.

Dropped ticks are counted per stream and reason; dataset frames stay at ``frame_index / fps``.
"""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EpisodeStats", "Sample", "StreamSpec", "Synchronizer", "Tick"]

ANCHOR_SAMPLES = 3  # reference samples that fix the tick phase (median)


@dataclass
class StreamSpec:
    tolerance_ns: int  # max staleness at a tick (a huge value: sticky, e.g. the task)
    unique: bool = False  # a sample may feed one frame only (cameras)
    required: bool = True  # a tick without a sample is dropped; optional streams give None


@dataclass
class Sample:
    stamp_ns: int
    receive_ns: int
    payload: Any
    seq: int


@dataclass
class Tick:
    index: int  # tick number in the episode (frames + drops)
    time_ns: int
    samples: dict[str, Sample | None] | None  # None: dropped
    reasons: dict[str, str] = field(default_factory=dict)  # stream -> missing | stale | repeat


@dataclass
class StreamStats:
    received: int = 0
    used: int = 0
    missing: int = 0
    stale: int = 0
    repeat: int = 0
    staleness_sum_ns: int = 0
    staleness_max_ns: int = 0
    last_stamp_ns: int | None = None
    intervals: list[int] = field(default_factory=list)
    delay_max_ns: int = 0  # receive time - stamp
    late: int = 0  # samples that arrived after the tick that needed them had been evaluated

    def to_dict(self, period_ns: int = 0) -> dict[str, Any]:
        iv = self.intervals
        mean = sum(iv) / len(iv) if iv else 0.0
        jitter = math.sqrt(sum((x - mean) ** 2 for x in iv) / len(iv)) if iv else 0.0
        return {
            "received": self.received, "frames": self.used,
            "dropped": {"missing": self.missing, "stale": self.stale, "repeat": self.repeat},
            "rate_hz": round(1e9 / mean, 3) if mean else 0.0,
            "stamp_jitter_ms": round(jitter / 1e6, 3),
            "staleness_mean_ms": round(self.staleness_sum_ns / self.used / 1e6, 3) if self.used else 0.0,
            "staleness_max_ms": round(self.staleness_max_ns / 1e6, 3),
            "receive_delay_max_ms": round(self.delay_max_ns / 1e6, 3),
            "late": self.late,
            # stamps skipped in the stream itself (not published or lost in transport), for periodic streams
            "gaps": sum(round(x / period_ns) - 1 for x in iv if x > 1.5 * period_ns) if period_ns else 0,
        }  # fmt: skip


@dataclass
class EpisodeStats:
    ticks: int = 0
    frames: int = 0
    dropped: int = 0
    start_ns: int | None = None
    streams: dict[str, StreamStats] = field(default_factory=dict)

    def to_dict(self, period_ns: int = 0) -> dict[str, Any]:
        return {"ticks": self.ticks, "frames": self.frames, "dropped_ticks": self.dropped,
                "first_tick_ns": self.start_ns,
                "streams": {name: s.to_dict(period_ns) for name, s in self.streams.items()}}  # fmt: skip


class Synchronizer:
    """Thread-safe: ``push`` from any thread (subscriptions, a bag reader), ``advance`` from the clock's thread."""

    def __init__(self, fps: int, streams: dict[str, StreamSpec], *, reference: str, latency_ns: int = 0,
                 keep_ns: int | None = None) -> None:  # fmt: skip
        if reference not in streams:
            raise ValueError(f"reference stream {reference!r} is not one of {list(streams)}")
        self.fps = fps
        self.period_ns = round(1e9 / fps)
        self.specs = dict(streams)
        self.reference = reference
        self.latency_ns = latency_ns
        finite = [s.tolerance_ns for s in streams.values() if s.tolerance_ns < 10**15]
        self.keep_ns = keep_ns or (latency_ns + max(finite, default=0) + 4 * self.period_ns)
        self._buffers: dict[str, collections.deque[Sample]] = {n: collections.deque() for n in streams}
        self._last_used: dict[str, int] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self.recording = False
        self._start_ns: int | None = None
        self._next_tick_ns: int | None = None
        self._last_tick_ns: int | None = None
        self._end_ns: int | None = None
        self.max_ticks: int | None = None
        self.stats = EpisodeStats()

    # ------------------------------------------------------------------------------------------------ input
    def push(self, stream: str, stamp_ns: int, payload: Any, receive_ns: int | None = None) -> None:
        with self._lock:
            buf = self._buffers[stream]
            self._seq += 1
            sample = Sample(stamp_ns, stamp_ns if receive_ns is None else receive_ns, payload, self._seq)
            if buf and stamp_ns < buf[-1].stamp_ns:  # out of order: keep the buffer sorted by stamp
                items = sorted([*buf, sample], key=lambda s: s.stamp_ns)
                buf.clear()
                buf.extend(items)
            else:
                buf.append(sample)
            newest = buf[-1].stamp_ns
            while len(buf) > 1 and buf[0].stamp_ns < newest - self.keep_ns:
                buf.popleft()
            if self.recording:
                st = self.stats.streams[stream]
                st.received += 1
                if st.last_stamp_ns is not None and stamp_ns > st.last_stamp_ns:
                    st.intervals.append(stamp_ns - st.last_stamp_ns)
                st.last_stamp_ns = stamp_ns if st.last_stamp_ns is None else max(st.last_stamp_ns, stamp_ns)
                st.delay_max_ns = max(st.delay_max_ns, sample.receive_ns - stamp_ns)
                if self._last_tick_ns is not None and stamp_ns <= self._last_tick_ns:
                    st.late += 1
            if self.recording and self._next_tick_ns is None and stream == self.reference:
                self._try_anchor(force=False)

    # ---------------------------------------------------------------------------------------------- episode
    def start(self, start_ns: int | None = None, max_ticks: int | None = None) -> None:
        """Begin an episode: ticks anchor on the first reference sample stamped at or after ``start_ns``."""
        with self._lock:
            self.recording = True
            self._start_ns = start_ns
            self._next_tick_ns = None
            self._last_tick_ns = None
            self._end_ns = None
            self.max_ticks = max_ticks
            self._last_used = {}
            self.stats = EpisodeStats(streams={n: StreamStats() for n in self.specs})
            self._try_anchor(force=False)

    def _try_anchor(self, force: bool) -> None:
        """Anchor the ticks once ``ANCHOR_SAMPLES`` reference samples are buffered (or at a flush)."""
        buf = self._buffers[self.reference]
        after = [s for s in buf if self._start_ns is None or s.stamp_ns >= self._start_ns]
        if after and (force or len(buf) >= ANCHOR_SAMPLES):
            self._anchor(after[0].stamp_ns)

    def _anchor(self, first_ns: int) -> None:
        """First tick half a period after ``first_ns``, corrected by the median phase of the buffered reference
        samples (one late sample must not shift the whole episode's ticks)."""
        period = self.period_ns
        offsets = sorted(((s.stamp_ns - first_ns + period // 2) % period) - period // 2
                         for s in self._buffers[self.reference])  # fmt: skip
        phase = offsets[len(offsets) // 2] if offsets else 0
        self._next_tick_ns = first_ns + phase + period // 2
        self.stats.start_ns = self._next_tick_ns

    def end_at(self, end_ns: int) -> None:
        """No tick after ``end_ns`` belongs to this episode (the ticks before it are still evaluated)."""
        with self._lock:
            self._end_ns = end_ns

    def stop(self) -> EpisodeStats:
        with self._lock:
            self.recording = False
            return self.stats

    @property
    def done(self) -> bool:
        return self.max_ticks is not None and self.stats.ticks >= self.max_ticks

    def advance(self, now_ns: int) -> list[Tick]:
        """Evaluate every pending tick whose time + latency is at or before ``now_ns``."""
        out: list[Tick] = []
        with self._lock:
            while (self.recording and self._next_tick_ns is not None and not self.done
                   and self._next_tick_ns + self.latency_ns <= now_ns
                   and (self._end_ns is None or self._next_tick_ns <= self._end_ns)):  # fmt: skip
                out.append(self._evaluate(self._next_tick_ns))
                self._last_tick_ns = self._next_tick_ns
                self._next_tick_ns += self.period_ns
        return out

    def flush(self) -> list[Tick]:
        """Evaluate the ticks covered by the data already pushed (end of a bag or an episode): up to the tick that
        takes the newest reference sample."""
        with self._lock:
            if self.recording and self._next_tick_ns is None:
                self._try_anchor(force=True)
            ref = self._buffers[self.reference]
            newest = ref[-1].stamp_ns if ref else None
        return [] if newest is None else self.advance(newest + self.period_ns // 2 + self.latency_ns)

    def _evaluate(self, t: int) -> Tick:
        stats = self.stats
        index = stats.ticks
        stats.ticks += 1
        chosen: dict[str, Sample | None] = {}
        reasons: dict[str, str] = {}
        for name, spec in self.specs.items():
            buf = self._buffers[name]
            sample = None
            for s in reversed(buf):
                if s.stamp_ns <= t:
                    sample = s
                    break
            if sample is None:
                if spec.required:
                    reasons[name] = "missing"
                chosen[name] = None
            elif t - sample.stamp_ns > spec.tolerance_ns:
                reasons[name] = "stale"
            elif spec.unique and self._last_used.get(name) == sample.seq:
                reasons[name] = "repeat"
            else:
                chosen[name] = sample
            # samples before the chosen one can never be chosen again
            while len(buf) > 1 and buf[1].stamp_ns <= t:
                buf.popleft()
        if reasons:
            stats.dropped += 1
            for name, why in reasons.items():
                st = stats.streams[name]
                setattr(st, why, getattr(st, why) + 1)
            return Tick(index, t, None, reasons)
        stats.frames += 1
        for name, sample in chosen.items():
            if sample is None:
                continue
            self._last_used[name] = sample.seq
            st = stats.streams[name]
            st.used += 1
            if self.specs[name].required:
                age = t - sample.stamp_ns
                st.staleness_sum_ns += age
                st.staleness_max_ns = max(st.staleness_max_ns, age)
        return Tick(index, t, chosen)
