"""`lerobot-core info`: the versions, codecs, devices and paths a bug report needs."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from typing import Any

from lerobot_core import __version__
from lerobot_core.constants import hf_home, hf_lerobot_home

# Distribution names reported when installed (import name is not always the distribution name).
_PACKAGES = [
    "torch", "numpy", "av", "pyarrow", "huggingface_hub", "safetensors", "draccus", "msgpack",
    "eclipse-zenoh", "rosbags", "diffusers", "ema-pytorch", "accelerate", "mujoco", "pyserial",
    "opencv-python-headless", "torchcodec", "lerobot-ros", "lerobot",
]  # fmt: skip
# Codec names worth knowing about for LeRobot video (encoders and decoders).
_VIDEO_CODECS = ["libsvtav1", "libaom-av1", "libdav1d", "av1", "h264", "libx264", "hevc", "libx265",
                 "h264_nvenc", "hevc_nvenc", "av1_nvenc", "h264_vaapi", "hevc_vaapi", "av1_qsv",
                 "h264_videotoolbox", "hevc_videotoolbox"]  # fmt: skip


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _video_codecs() -> dict[str, list[str]]:
    try:
        import av
    except ImportError:
        return {"encoders": [], "decoders": []}
    encoders, decoders = [], []
    for name in _VIDEO_CODECS:
        for mode, bucket in (("w", encoders), ("r", decoders)):
            try:
                av.codec.Codec(name, mode)
            except Exception:  # PyAV raises UnknownCodecError (or ValueError on old versions)
                continue
            bucket.append(name)
    return {"encoders": encoders, "decoders": decoders}


def _devices() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"torch": "not installed"}
    out: dict[str, Any] = {"cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        out["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        out["cuda_version"] = torch.version.cuda
    mps = getattr(torch.backends, "mps", None)
    out["mps"] = bool(mps and mps.is_available())
    return out


def collect() -> dict[str, Any]:
    """Gather the report as a JSON-serialisable dict."""
    return {
        "lerobot_core": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": {name: _dist_version(name) for name in _PACKAGES},
        "rclpy_importable": importlib.util.find_spec("rclpy") is not None,
        "video_codecs": _video_codecs(),
        "devices": _devices(),
        "paths": {
            "HF_HOME": str(hf_home()),
            "HF_LEROBOT_HOME": str(hf_lerobot_home()),
            "HF_HUB_OFFLINE": os.getenv("HF_HUB_OFFLINE", "0"),
        },
        "env": {k: os.environ[k] for k in ("RMW_IMPLEMENTATION", "ROS_DISTRO", "ROS_DOMAIN_ID", "MUJOCO_GL")
                if k in os.environ},  # fmt: skip
    }


def _format(report: dict[str, Any]) -> str:
    lines = [f"lerobot-core {report['lerobot_core']}  python {report['python']}  {report['platform']}"]
    lines.append(f"cpus: {report['cpu_count']}")
    lines.append("packages:")
    for name, version in report["packages"].items():
        lines.append(f"  {name:24s} {version or '-'}")
    lines.append(f"rclpy importable: {report['rclpy_importable']}")
    codecs = report["video_codecs"]
    lines.append(f"video encoders: {', '.join(codecs['encoders']) or 'none (install av)'}")
    lines.append(f"video decoders: {', '.join(codecs['decoders']) or 'none (install av)'}")
    lines.append("devices: " + ", ".join(f"{k}={v}" for k, v in report["devices"].items()))
    lines.append("paths:")
    lines += [f"  {k}: {v}" for k, v in report["paths"].items()]
    if report["env"]:
        lines.append("env: " + ", ".join(f"{k}={v}" for k, v in report["env"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-core info", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = collect()
    print(json.dumps(report, indent=2) if args.json else _format(report))
    return 0
