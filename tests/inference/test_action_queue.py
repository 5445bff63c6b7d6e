"""ActionQueue merge semantics (latency compensation, stale prefix, append/replace) and staleness."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_core.inference import ActionQueue, LatencyTracker, MergeMode, delay_steps


def chunk(start: float, n: int = 10, dim: int = 2) -> np.ndarray:
    return np.stack([np.full(dim, start + i, np.float32) for i in range(n)])


def test_delay_steps_rounds_up() -> None:
    dt = 1 / 30
    assert delay_steps(0.0, dt) == 0
    assert delay_steps(dt, dt) == 1
    assert delay_steps(dt * 1.01, dt) == 2
    assert delay_steps(0.1, dt) == 3


def test_first_chunk_is_not_trimmed_when_nothing_was_executed() -> None:
    q = ActionQueue(2)
    assert q.merge(chunk(0), chunk(100), latency_steps=5, idx_before=0, source_stamp=0.0) == 0
    assert q.qsize() == 10
    assert q.pop()[0] == 100


def test_replace_drops_the_steps_executed_during_inference() -> None:
    q = ActionQueue(2)
    q.merge(chunk(0), chunk(0), 0, 0, 0.0)
    idx_before, prefix_model, _ = q.snapshot(horizon=4)
    assert idx_before == 0 and prefix_model[:, 0].tolist() == [0, 1, 2, 3]
    for _ in range(3):  # the control loop runs three ticks while the chunk is computed
        q.pop()
    dropped = q.merge(chunk(50), chunk(500), latency_steps=3, idx_before=idx_before, source_stamp=1.0)
    assert dropped == 3
    model, robot = q.contents()
    assert robot[:, 0].tolist() == [503 + i for i in range(7)]
    assert model[0, 0] == 53
    # latency shorter than the executed steps: only the latency is dropped
    idx = q.consumed
    q.pop(), q.pop()
    assert q.merge(chunk(0), chunk(0), latency_steps=1, idx_before=idx, source_stamp=2.0) == 1


def test_append_keeps_the_rest_of_the_previous_chunk_time_aligned() -> None:
    q = ActionQueue(1, MergeMode.APPEND)
    q.merge(chunk(0, 6, 1), chunk(0, 6, 1), 0, 0, 0.0)
    idx = q.consumed
    q.pop(), q.pop()  # 4 left: values 2..5
    q.merge(chunk(100, 10, 1), chunk(100, 10, 1), latency_steps=2, idx_before=idx, source_stamp=1.0)
    # new chunk starts at 102 for "now"; the old queue covers 4 steps, so the new part starts at 106
    assert q.contents()[1][:, 0].tolist() == [2, 3, 4, 5, 106, 107, 108, 109]


def test_whole_chunk_stale_is_counted_and_dropped() -> None:
    q = ActionQueue(1)
    q.merge(chunk(0, 20, 1), chunk(0, 20, 1), 0, 0, 0.0)
    for _ in range(12):
        q.pop()
    q.merge(chunk(0, 10, 1), chunk(0, 10, 1), latency_steps=12, idx_before=0, source_stamp=0.0)
    assert q.stale_chunks == 1 and q.qsize() == 8


def test_old_actions_are_never_returned() -> None:
    q = ActionQueue(1)
    q.merge(chunk(0, 5, 1), chunk(0, 5, 1), 0, 0, source_stamp=10.0)
    assert q.pop(now=12.0, max_age_s=3.0) is not None
    assert q.pop(now=13.5, max_age_s=3.0) is None
    assert q.stale_drops == 4 and q.qsize() == 0


def test_merge_rejects_bad_input() -> None:
    q = ActionQueue(2)
    with pytest.raises(ValueError, match="differ"):
        q.merge(chunk(0, 3), chunk(0, 4), 0, 0, 0.0)
    with pytest.raises(ValueError, match="ahead"):
        q.merge(chunk(0), chunk(0), 0, 5, 0.0)


def test_latency_tracker() -> None:
    t = LatencyTracker(maxlen=3)
    assert t.max() == 0.0 and t.percentile(50) == 0.0
    for v in (0.9, 0.1, 0.2, 0.3):
        t.add(v)
    assert t.max() == 0.3 and len(t) == 3
