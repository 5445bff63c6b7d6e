"""Video encoder settings (`VideoEncoderConfig`), validated against the codecs PyAV's FFmpeg really has.

Field names, defaults and the per-codec option mapping follow upstream LeRobot so that
``--dataset.camera_encoder.*`` flags and the ``video.*`` keys stored in ``meta/info.json`` carry over.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import av

logger = logging.getLogger(__name__)

HW_VIDEO_CODECS = [
    "h264_videotoolbox",
    "hevc_videotoolbox",
    "h264_nvenc",
    "hevc_nvenc",
    "h264_vaapi",
    "h264_qsv",
]
VALID_VIDEO_CODECS = {"h264", "hevc", "libsvtav1", "auto", *HW_VIDEO_CODECS}
VIDEO_CODECS_ALIASES = {"av1": "libsvtav1"}
LIBSVTAV1_DEFAULT_PRESET = 12
VIDEO_ENCODER_INFO_FIELD_NAMES = ("g", "crf", "preset", "fast_decode", "video_backend", "extra_options")
VIDEO_ENCODER_INFO_KEYS = tuple(f"video.{name}" for name in VIDEO_ENCODER_INFO_FIELD_NAMES)

_NUMERIC_OPTION_TYPES = {"INT", "INT64", "UINT64", "UINT", "FLOAT", "DOUBLE", "BOOL"}
_INTEGER_OPTION_TYPES = {"INT", "INT64", "UINT64", "UINT", "BOOL"}


@functools.lru_cache(maxsize=64)
def get_codec(vcodec: str) -> av.codec.Codec | None:
    """The write-mode PyAV codec called ``vcodec``, or None when this FFmpeg build lacks it."""
    try:
        return av.codec.Codec(vcodec, "w")
    except Exception:
        return None


@functools.lru_cache(maxsize=64)
def _codec_options(vcodec: str) -> dict[str, Any]:
    try:
        ctx = av.codec.CodecContext.create(vcodec, "w")
    except Exception:
        return {}
    options = ctx.supported_options
    return {opt.name: opt for opt in (*options.generic, *options.private)}


@functools.lru_cache(maxsize=16)
def _hardware_encoder_opens(vcodec: str) -> bool:
    """A hardware encoder compiled into FFmpeg may still lack its device: try opening it once."""
    try:
        ctx = av.codec.CodecContext.create(vcodec, "w")
        ctx.width, ctx.height, ctx.pix_fmt = 64, 64, "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.open()
        return True
    except Exception:
        return False


def detect_available_encoders_pyav(encoders: list[str] | str) -> list[str]:
    """Keep the names (in order) whose video encoder exists in PyAV's FFmpeg build (and, for hardware
    encoders, whose device can be opened)."""
    names = [encoders] if isinstance(encoders, str) else list(encoders)
    found = []
    for name in names:
        codec = get_codec(name)
        if codec is None or codec.type != "video":
            continue
        if name in HW_VIDEO_CODECS and not _hardware_encoder_opens(name):
            continue
        found.append(name)
    return found


def _check_option(vcodec: str, name: str, value: Any, opt: Any) -> None:
    kind = getattr(opt.type, "name", str(opt.type)).upper()
    if kind in _NUMERIC_OPTION_TYPES:
        if isinstance(value, bool):
            raise ValueError(f"{vcodec}: option {name!r} must be a number, got the bool {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{vcodec}: option {name!r} must be a number, got {value!r}") from None
        if kind in _INTEGER_OPTION_TYPES and not number.is_integer():
            raise ValueError(f"{vcodec}: option {name!r} must be an integer, got {value!r}")
        if opt.min < opt.max and not (opt.min <= number <= opt.max):
            raise ValueError(
                f"{vcodec}: option {name!r}={value!r} is out of range [{opt.min:g}, {opt.max:g}]"
            )
    elif kind == "STRING":
        if isinstance(value, bool):
            raise ValueError(f"{vcodec}: option {name!r} must be a string, got the bool {value!r}")
        choices = [c.name for c in (opt.choices or ())]
        if choices and str(value) not in choices:
            raise ValueError(f"{vcodec}: option {name!r}={value!r} is not one of {choices}")


def check_video_encoder_parameters_pyav(vcodec: str, pix_fmt: str, codec_options: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the option when PyAV's FFmpeg cannot encode with these settings."""
    options = _codec_options(vcodec)
    codec = get_codec(vcodec)
    if codec is None or not options:
        raise ValueError(
            f"video codec {vcodec!r} is not available in the FFmpeg bundled with PyAV {av.__version__}; "
            f"available here: {detect_available_encoders_pyav(sorted(VALID_VIDEO_CODECS - {'auto'}))}"
        )
    formats = [f.name for f in (codec.video_formats or ())]
    if formats and pix_fmt not in formats:
        raise ValueError(f"{vcodec}: pix_fmt {pix_fmt!r} is not supported; choose one of {formats}")
    if "g" in codec_options:
        g = codec_options["g"]
        if isinstance(g, bool) or not str(g).lstrip("+").isdigit() or int(g) <= 0:
            raise ValueError(f"{vcodec}: g (GOP size) must be a positive integer, got {g!r}")
    for name, value in codec_options.items():
        if name in options and name != "g":
            _check_option(vcodec, name, value, options[name])


@dataclass
class VideoEncoderConfig:
    """How camera streams are encoded. Defaults: AV1 (libsvtav1), g=2, crf=30, preset 12, yuv420p."""

    vcodec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    g: int | None = 2
    crf: int | float | None = 30
    preset: int | str | None = None
    fast_decode: int = 0
    video_backend: str = "pyav"
    extra_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.resolve_vcodec()
        if self.preset is None and self.vcodec == "libsvtav1":
            self.preset = LIBSVTAV1_DEFAULT_PRESET
        self.validate()

    @classmethod
    def from_video_info(cls, info: dict[str, Any]) -> VideoEncoderConfig:
        """Rebuild the config recorded in a video feature's ``info`` block of ``meta/info.json``."""
        kwargs: dict[str, Any] = {}
        if info.get("video.codec"):
            kwargs["vcodec"] = VIDEO_CODECS_ALIASES.get(info["video.codec"], info["video.codec"])
        if info.get("video.pix_fmt"):
            kwargs["pix_fmt"] = info["video.pix_fmt"]
        for name in VIDEO_ENCODER_INFO_FIELD_NAMES:
            value = info.get(f"video.{name}")
            if value is None or (name == "extra_options" and not value):
                continue
            kwargs[name] = value
        return cls(**kwargs)

    @staticmethod
    def detect_available_encoders(encoders: list[str] | str) -> list[str]:
        return detect_available_encoders_pyav(encoders)

    def resolve_vcodec(self) -> None:
        self.vcodec = VIDEO_CODECS_ALIASES.get(self.vcodec, self.vcodec)
        if self.vcodec not in VALID_VIDEO_CODECS:
            raise ValueError(
                f"Unsupported video codec {self.vcodec!r}: expected one of {sorted(VALID_VIDEO_CODECS)}"
            )
        if self.vcodec == "auto":
            hardware = detect_available_encoders_pyav(HW_VIDEO_CODECS)
            if hardware:
                self.vcodec = hardware[0]
            else:
                logger.warning("vcodec='auto': no hardware encoder available, using libsvtav1")
                self.vcodec = "libsvtav1"
        elif not detect_available_encoders_pyav(self.vcodec):
            raise ValueError(
                f"Unsupported video codec {self.vcodec!r}: not available in PyAV's FFmpeg build "
                f"(available: {detect_available_encoders_pyav(sorted(VALID_VIDEO_CODECS - {'auto'}))})"
            )

    def validate(self) -> None:
        check_video_encoder_parameters_pyav(self.vcodec, self.pix_fmt, self.get_codec_options())

    def get_codec_options(self, encoder_threads: int | None = None, as_strings: bool = False) -> dict[str, Any]:
        """FFmpeg encoder options for this config (``g`` always when set, the rest per codec)."""
        opts: dict[str, Any] = {}
        if self.g is not None:
            opts["g"] = self.g
        codec = self.vcodec
        if codec == "libsvtav1":
            if self.crf is not None:
                opts["crf"] = self.crf
            if self.preset is not None:
                opts["preset"] = self.preset
            params = f"fast-decode={max(0, min(2, int(self.fast_decode)))}"
            if encoder_threads is not None:
                params += f":lp={int(encoder_threads)}"
            opts["svtav1-params"] = params
        elif codec in ("h264", "hevc"):
            if self.crf is not None:
                opts["crf"] = self.crf
            if self.preset is not None:
                opts["preset"] = self.preset
            if self.fast_decode:
                opts["tune"] = "fastdecode"
            if encoder_threads is not None:
                opts["threads"] = encoder_threads
        elif codec.endswith("_videotoolbox"):
            if self.crf is not None:
                opts["q:v"] = max(1, min(100, int(100 - float(self.crf) * 2)))
        elif codec.endswith("_nvenc"):
            opts["rc"] = 0
            if self.crf is not None:
                opts["qp"] = self.crf
            if self.preset is not None:
                opts["preset"] = self.preset
        elif codec == "h264_vaapi":
            if self.crf is not None:
                opts["qp"] = self.crf
        elif codec == "h264_qsv":
            if self.crf is not None:
                opts["global_quality"] = self.crf
            if self.preset is not None:
                opts["preset"] = self.preset
        else:
            if self.crf is not None:
                opts["crf"] = self.crf
            if self.preset is not None:
                opts["preset"] = self.preset
        for key, value in self.extra_options.items():
            opts.setdefault(key, value)
        if as_strings:
            opts = {k: str(v) for k, v in opts.items()}
        return opts

    def info_fields(self) -> dict[str, Any]:
        """The ``video.<field>`` entries recorded in ``meta/info.json`` for each video feature."""
        fields = asdict(self)
        return {f"video.{name}": fields[name] for name in VIDEO_ENCODER_INFO_FIELD_NAMES}


def camera_encoder_defaults() -> VideoEncoderConfig:
    return VideoEncoderConfig()
