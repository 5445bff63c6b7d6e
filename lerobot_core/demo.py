"""`lerobot-core demo`: the embedded end-to-end demo (no hardware, no ROS).

It grows with the stack: today it reports the environment the demo runs in; later stages add a synthetic
dataset round trip, then the simulated SO-101 recording, training and policy rollout.
"""

from __future__ import annotations

import argparse

from lerobot_core.utils import env_info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-core demo", description=__doc__)
    parser.parse_args(argv)
    report = env_info.collect()
    print(f"lerobot-core {report['lerobot_core']} on python {report['python']}, torch {report['packages']['torch']}")
    print("video encoders:", ", ".join(report["video_codecs"]["encoders"]))
    return 0
