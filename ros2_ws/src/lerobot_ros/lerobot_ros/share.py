"""Locate lerobot_ros' share directory with or without a ROS install (`$(find-pkg-share lerobot_ros)`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "lerobot_ros"


def package_share_directory(package: str = PACKAGE) -> Path:
    """The share directory of ``package``.

    Looked up, in order: the ament index on ``AMENT_PREFIX_PATH`` (a sourced ROS workspace), the source
    checkout when running from it (launch/, urdf/ and config/ at the repository root, used in place),
    and the Python environment's ``share/`` (``pip install``). Raises ``LookupError`` otherwise.
    """
    def indexed(prefix: Path) -> Path | None:
        marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / package
        return prefix / "share" / package if marker.exists() and (prefix / "share" / package).is_dir() else None

    for prefix in [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]:
        if found := indexed(Path(prefix)):
            return found
    if package == PACKAGE:  # running from the source checkout (editable install): use files in place
        source = Path(__file__).resolve().parents[1]  # ros2_ws/src/lerobot_ros
        if (source / "package.xml").is_file() and (source / "launch").is_dir():
            return source
    if found := indexed(Path(sys.prefix)):
        return found
    raise LookupError(
        f"package {package!r} not found: source a ROS workspace that contains it (AMENT_PREFIX_PATH) "
        "or `pip install -e ros2_ws/src/lerobot_ros`."
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="lerobot-ros share", description="Print the share directory of a package.")
    parser.add_argument("package", nargs="?", default=PACKAGE, help=f"package name (default {PACKAGE})")
    args = parser.parse_args(argv)
    try:
        print(package_share_directory(args.package))
    except LookupError as e:
        print(f"lerobot-ros share: {e}", file=sys.stderr)
        return 1
    return 0
