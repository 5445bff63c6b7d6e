"""Synchronizer and mapping: tick anchoring, latest-at-or-before, staleness/missing/repeat drops, errors."""

from __future__ import annotations

import pytest

from lerobot_core.recording import RecordingConfig, StreamSpec, Synchronizer

MS = 1_000_000
P = 100 * MS  # 10 fps


def make_sync(cam_tolerance=P, **kw):
    streams = {"cam": StreamSpec(cam_tolerance, unique=True), "state": StreamSpec(P), "task": StreamSpec(10**18, required=False)}
    return Synchronizer(10, streams, reference="cam", **kw)


def test_ticks_anchor_half_a_period_after_the_reference_and_take_latest_at_or_before():
    sync = make_sync(latency_ns=50 * MS)
    sync.start(0)
    for k in range(5):
        sync.push("state", k * P - 10 * MS, ("state", k))
        sync.push("state", k * P + 40 * MS, ("state+", k))  # newer, still before the tick at k*P + 50 ms
        sync.push("cam", k * P, ("cam", k))
    ticks = sync.advance(4 * P + 50 * MS + 50 * MS)
    assert [t.time_ns for t in ticks] == [k * P + 50 * MS for k in range(5)]
    assert [t.samples["cam"].payload for t in ticks] == [("cam", k) for k in range(5)]
    assert [t.samples["state"].payload for t in ticks] == [("state+", k) for k in range(5)]
    assert all(t.samples["task"] is None for t in ticks)  # optional stream never pushed
    assert sync.stats.frames == 5 and sync.stats.dropped == 0


def test_latency_holds_ticks_back_until_late_messages_could_have_arrived():
    sync = make_sync(latency_ns=80 * MS)
    sync.push("cam", -2 * P, "c-2")  # earlier samples fix the phase; the episode starts at 0
    sync.push("cam", -P, "c-1")
    sync.start(0)
    sync.push("cam", 0, "c0")
    sync.push("state", 0, "s0")
    assert sync.advance(50 * MS + 79 * MS) == []
    assert len(sync.advance(50 * MS + 80 * MS)) == 1


@pytest.mark.parametrize(("tolerance", "reason"), [(P, "stale"), (3 * P, "repeat")])
def test_missing_camera_frame_drops_the_tick_never_repeats_the_previous_frame(tolerance, reason):
    sync = make_sync(tolerance)
    sync.start(0)
    for k in range(6):
        sync.push("state", k * P, k)
        if k != 3:
            sync.push("cam", k * P, k)
    ticks = sync.advance(6 * P)
    kept = [t for t in ticks if t.samples is not None]
    dropped = [t for t in ticks if t.samples is None]
    assert [t.samples["cam"].payload for t in kept] == [0, 1, 2, 4, 5]
    assert len(dropped) == 1 and dropped[0].reasons == {"cam": reason}
    assert getattr(sync.stats.streams["cam"], reason) == 1 and sync.stats.dropped == 1


def test_stale_state_drops_the_tick_and_is_counted_per_stream():
    sync = make_sync()
    sync.start(0)
    for k in range(4):
        sync.push("cam", k * P, k)
    sync.push("state", 0, "only one")
    ticks = sync.advance(4 * P)
    assert ticks[0].samples is not None
    assert [t.reasons for t in ticks[1:]] == [{"state": "stale"}] * 3
    st = sync.stats.to_dict()["streams"]["state"]
    assert st["dropped"]["stale"] == 3 and st["frames"] == 1 and st["staleness_max_ms"] == 50.0


def test_missing_state_at_start_and_max_ticks():
    sync = make_sync()
    sync.start(0, max_ticks=3)
    for k in range(6):
        sync.push("cam", k * P, k)
        if k >= 1:
            sync.push("state", k * P, k)
    ticks = sync.advance(10 * P)
    assert len(ticks) == 3 and sync.done
    assert ticks[0].reasons == {"state": "missing"}


def test_anchor_ignores_reference_samples_before_the_episode_start():
    sync = make_sync()
    for k in range(3):
        sync.push("cam", k * P, k)
        sync.push("state", k * P, k)
    sync.start(2 * P - 1)
    sync.push("cam", 3 * P, 3)
    sync.push("state", 3 * P, 3)
    ticks = sync.advance(4 * P)
    assert [t.samples["cam"].payload for t in ticks] == [2, 3]


def test_jitter_and_rate_in_stats():
    sync = make_sync()
    sync.start(0)
    for k, jitter in enumerate([0, 2, -2, 0, 2, -2]):
        sync.push("cam", k * P + jitter * MS, k)
    st = sync.stats.to_dict()["streams"]["cam"]
    assert st["received"] == 6 and 9.5 < st["rate_hz"] < 10.5 and st["stamp_jitter_ms"] > 1.0


def test_mapping_errors_name_the_field():
    with pytest.raises(ValueError, match=r"cameras\[0\].type"):
        RecordingConfig.from_dict({"cameras": [{"key": "a", "topic": "/a", "type": "sensor_msgs/msg/PointCloud2"}]})
    with pytest.raises(ValueError, match="unknown key"):
        RecordingConfig.from_dict({"state": {"topc": "/x"}})
    with pytest.raises(ValueError, match="fps"):
        RecordingConfig.from_dict({"fps": 0})
    with pytest.raises(ValueError, match="state.units"):
        RecordingConfig.from_dict({"state": {"units": "ticks"}})


def test_mapping_from_ros_parameters_with_camera_keys():
    cfg = RecordingConfig.from_dict({"recorder": {"ros__parameters": {
        "fps": 15, "cameras": ["front"], "camera": {"front": {"topic": "/front/image_raw/compressed",
                                                             "type": "sensor_msgs/CompressedImage", "resize": [48, 64]}},
        "action": {"type": "std_msgs/Float64MultiArray", "topic": "/cmd"}}}})
    assert cfg.fps == 15 and cfg.cameras[0].type == "sensor_msgs/msg/CompressedImage"
    assert cfg.cameras[0].camera_info_topic() == "/front/camera_info"
    assert cfg.action.type == "std_msgs/msg/Float64MultiArray"
    feats = cfg.features({"front": (48, 64)})
    assert feats["observation.state"]["names"][0] == "shoulder_pan.pos"
    assert feats["observation.images.front"]["shape"] == (48, 64, 3)


def test_tick_phase_is_the_median_of_the_reference_samples_not_the_first_one():
    sync = make_sync(latency_ns=0)
    sync.start(0)
    for k, t in enumerate([40 * MS, P, 2 * P, 3 * P, 4 * P]):  # the first frame came 40 ms late
        sync.push("cam", t, k)
        sync.push("state", t, k)
    ticks = sync.advance(5 * P)
    assert [t.time_ns for t in ticks] == [P // 2 + k * P for k in range(5)]  # mid-way, not 40 ms later
    assert [t.samples["cam"].payload for t in ticks] == [0, 1, 2, 3, 4]


def test_end_at_keeps_the_ticks_before_the_end_only():
    sync = make_sync(latency_ns=200 * MS)
    sync.start(0)
    ticks = []
    for k in range(10):  # as the drivers do: push, then advance the clock
        sync.push("cam", k * P, k)
        sync.push("state", k * P, k)
        if k == 4:
            sync.end_at(4 * P + 60 * MS)  # save pressed at 460 ms: ticks at 50..450 ms are this episode's
        ticks += sync.advance(k * P + MS)
    ticks += sync.advance(10 * P + 200 * MS)
    assert [t.samples["cam"].payload for t in ticks] == [0, 1, 2, 3, 4]
