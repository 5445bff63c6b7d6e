"""Encoder settings (validated through PyAV), decoder cache, timestamp tolerance errors, concatenation."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lerobot_core.datasets import FrameTimestampError, VideoDecoderCache, VideoEncoderConfig
from lerobot_core.datasets.video import (
    DECODER_CACHE_SIZE_ENV,
    EpisodeVideoWriter,
    concatenate_videos,
    count_video_frames,
    decode_video_frames,
    get_video_info,
)
from lerobot_core.datasets.video_config import HW_VIDEO_CODECS, detect_available_encoders_pyav


def test_default_encoder_config_and_codec_options():
    cfg = VideoEncoderConfig()
    assert (cfg.vcodec, cfg.g, cfg.crf, cfg.preset, cfg.pix_fmt) == ("libsvtav1", 2, 30, 12, "yuv420p")
    assert cfg.get_codec_options() == {"g": 2, "crf": 30, "preset": 12, "svtav1-params": "fast-decode=0"}
    assert cfg.get_codec_options(encoder_threads=2, as_strings=True)["svtav1-params"] == "fast-decode=0:lp=2"
    assert VideoEncoderConfig(fast_decode=7).get_codec_options()["svtav1-params"] == "fast-decode=2"
    assert VideoEncoderConfig(vcodec="av1").vcodec == "libsvtav1"
    h264 = VideoEncoderConfig(vcodec="h264", preset="veryfast", fast_decode=1, extra_options={"crf": 1, "bf": 0})
    assert h264.get_codec_options(encoder_threads=2) == {
        "g": 2, "crf": 30, "preset": "veryfast", "tune": "fastdecode", "threads": 2, "bf": 0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crf": 99}, r"'crf'=99 is out of range \[0, 63\]"),
        ({"preset": 20}, "'preset'=20 is out of range"),
        ({"g": 0}, "g .*positive integer"),
        ({"pix_fmt": "rgb24"}, "pix_fmt 'rgb24' is not supported"),
        ({"vcodec": "mpeg9"}, "Unsupported video codec 'mpeg9'"),
        ({"vcodec": "libsvtav1", "extra_options": {"qp": 1.5}}, "'qp' must be an integer"),
    ],
)
def test_invalid_encoder_options_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoEncoderConfig(**kwargs)


def test_auto_and_hardware_detection():
    available = detect_available_encoders_pyav(HW_VIDEO_CODECS)
    cfg = VideoEncoderConfig(vcodec="auto")
    assert cfg.vcodec == (available[0] if available else "libsvtav1")
    assert detect_available_encoders_pyav(["libsvtav1", "nope"]) == ["libsvtav1"]


def test_from_video_info_round_trip():
    cfg = VideoEncoderConfig(crf=35, fast_decode=1)
    info = {"video.codec": "av1", "video.pix_fmt": "yuv420p", **cfg.info_fields()}
    assert VideoEncoderConfig.from_video_info(info) == cfg


def _write(path, n, fps=30, start=0, cfg=None, width=48):
    writer = EpisodeVideoWriter(path, fps, 32, width, cfg)
    for i in range(n):
        writer.write(np.full((32, width, 3), (start + i) * 5 % 256, np.uint8))
    writer.close()
    return path


@pytest.mark.parametrize("vcodec", ["libsvtav1", "h264", "hevc"])
def test_codecs_encode_decode_and_info(tmp_path, vcodec):
    # x265: one small thread pool keeps this test light on a busy 2-core CI machine; its frames must be ≥ 64 wide
    extra = {"x265-params": "pools=1:frame-threads=1:log-level=error"} if vcodec == "hevc" else {}
    width = 64 if vcodec == "hevc" else 48
    cfg = VideoEncoderConfig(vcodec=vcodec, extra_options=extra)
    path = _write(tmp_path / "v.mp4", 8, cfg=cfg, width=width)
    info = get_video_info(path, cfg)
    assert info["video.codec"] == {"libsvtav1": "av1", "h264": "h264", "hevc": "hevc"}[vcodec]
    assert (info["video.height"], info["video.width"], info["video.fps"], info["video.channels"]) == (32, width, 30, 3)
    assert info["video.crf"] == 30 and info["has_audio"] is False
    frames = decode_video_frames(path, [0.0, 7 / 30], 1e-4, cache=VideoDecoderCache(2))
    assert frames.shape == (2, 3, 32, width)
    assert abs(float(frames[1].mean()) * 255 - 35) < 4


def test_x265_refuses_frames_narrower_than_its_ctu_instead_of_crashing(tmp_path):
    with pytest.raises(ValueError, match=r"libx265.*at least 64 pixels wide, got 48x32"):
        EpisodeVideoWriter(tmp_path / "v.mp4", 30, 32, 48, VideoEncoderConfig(vcodec="hevc"))
    assert not (tmp_path / "v.mp4").exists()


def test_concatenation_is_lossless_and_cuts_uncommitted_frames(tmp_path):
    a, b = _write(tmp_path / "a.mp4", 6), _write(tmp_path / "b.mp4", 4, start=6)
    out = tmp_path / "out.mp4"
    concatenate_videos([(a, 5 / 30), (b, 4 / 30)], out, max_duration_s=1)  # a's 6th frame is cut off
    assert count_video_frames(out) == 9
    cache = VideoDecoderCache(4)
    np.testing.assert_array_equal(
        decode_video_frames(out, [5 / 30], 1e-4, cache=cache).numpy(),
        decode_video_frames(b, [0.0], 1e-4, cache=cache).numpy(),
    )


def test_tolerance_error_is_explicit(tmp_path):
    path = _write(tmp_path / "v.mp4", 5)
    with pytest.raises(FrameTimestampError, match=r"query 0\.050000s.*tolerance_s=0\.0001.*backend: pyav"):
        decode_video_frames(path, [0.05], 1e-4, cache=VideoDecoderCache(1))
    assert decode_video_frames(path, [0.05], 0.02, cache=VideoDecoderCache(1)).shape == (1, 3, 32, 48)


def test_decoder_cache_is_bounded_lru_and_env_configurable(tmp_path, monkeypatch):
    paths = [_write(tmp_path / f"v{i}.mp4", 2) for i in range(3)]
    cache = VideoDecoderCache(max_size=2)
    first = cache.get_decoder(paths[0])
    assert cache.get_decoder(paths[0]) is first  # a hit does not reopen
    cache.get_decoder(paths[1])
    cache.get_decoder(paths[0])  # refresh 0: 1 becomes least recently used
    cache.get_decoder(paths[2])
    assert paths[0] in cache and paths[2] in cache and paths[1] not in cache and len(cache) == 2
    monkeypatch.delenv(DECODER_CACHE_SIZE_ENV, raising=False)
    assert VideoDecoderCache().max_size == 100
    monkeypatch.setenv(DECODER_CACHE_SIZE_ENV, "7")
    assert VideoDecoderCache().max_size == 7
    monkeypatch.setenv(DECODER_CACHE_SIZE_ENV, "unbounded")
    assert VideoDecoderCache().max_size is None
    monkeypatch.setenv(DECODER_CACHE_SIZE_ENV, "zero")
    with pytest.raises(ValueError, match=DECODER_CACHE_SIZE_ENV):
        VideoDecoderCache()
    cache.clear()
    assert len(cache) == 0


def test_float_and_uint8_decoding_agree(upstream_fixtures):
    from lerobot_core.datasets.video import decode_video_frames_uint8

    path = upstream_fixtures / "dataset_v30/videos/observation.images.wrist/chunk-000/file-000.mp4"
    timestamps = [0.0, 41 / 30, 3 / 30, 79 / 30]
    as_float = decode_video_frames(path, timestamps, 1e-4, cache=VideoDecoderCache(1))
    as_uint8 = decode_video_frames_uint8(path, timestamps, 1e-4, cache=VideoDecoderCache(1))
    assert as_uint8.dtype == torch.uint8 and as_float.shape == as_uint8.shape == (4, 3, 96, 128)
    assert torch.equal(as_float, as_uint8.float() / 255)


def _thread_nices() -> dict[int, int]:
    """Native thread id -> nice value of every thread of this process (Linux /proc)."""
    nices = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        nices[int(task.name)] = int(fields[16])  # field 19 of stat: nice
    return nices


def test_streaming_encoder_threads_run_at_lower_priority_and_their_codec_threads_inherit_it(tmp_path):
    from lerobot_core.datasets.video import StreamingVideoEncoder

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = set(_thread_nices())
    encoder = StreamingVideoEncoder(30, queue_maxsize=8, encoder_threads=2, encoder_nice=5)
    encoder.start_episode({"cam": (tmp_path / "cam.mp4", 64, 64)})
    for i in range(4):
        assert encoder.feed("cam", i, np.full((64, 64, 3), 40 * i, np.uint8))
    thread = encoder._threads["cam"]
    deadline = time.monotonic() + 20
    while thread.writer is None or thread.writer.frames_written < 1:  # the codec has started its workers
        assert time.monotonic() < deadline
        time.sleep(0.01)
    nices = _thread_nices()
    new = {tid: n for tid, n in nices.items() if tid not in before}
    assert nices[threading.get_native_id()] == base  # the caller's priority is untouched
    assert new[thread.native_id] == min(19, base + 5)
    assert len(new) > 1 and set(new.values()) == {min(19, base + 5)}  # SVT-AV1's own threads inherited it
    paths = encoder.finish_episode(4)
    assert count_video_frames(paths["cam"]) == 4
