"""``lerobot-core sim``: run the scripted expert in the simulated SO-101 and report (optionally film) it.

    lerobot-core sim --episodes 10 --seed 0 [--video out.mp4 --camera front --width 640 --height 480]

Prints one JSON object: per-episode success, steps and cube start, and the success rate.
"""

from __future__ import annotations

import argparse
import json

from lerobot_core.sim.env import SimCameraConfig, SO101Sim, SO101SimConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-core sim", description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (then seed+1, …)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--video", default=None, help="write the episodes of --camera to this video file")
    parser.add_argument("--camera", default="front", choices=["front", "wrist"])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    sim = SO101Sim(SO101SimConfig(fps=args.fps, cameras=[SimCameraConfig(args.camera, args.height, args.width)]))
    container = stream = None
    if args.video:
        import av

        container = av.open(args.video, "w")
        stream = container.add_stream("mpeg4", rate=args.fps)
        stream.width, stream.height, stream.pix_fmt = args.width, args.height, "yuv420p"
    episodes = []
    try:
        for i in range(args.episodes):
            sim.reset(args.seed + i)
            while not sim.done():
                sim.step(sim.expert_action())
                if container is not None:
                    frame = av.VideoFrame.from_ndarray(sim.render(args.camera), format="rgb24")
                    container.mux(stream.encode(frame))
            episodes.append({"seed": sim.seed, "success": sim.success(), "steps": sim.step_count,
                             "cube_start": [round(float(v), 4) for v in sim.cube_start]})  # fmt: skip
    finally:
        if container is not None:
            container.mux(stream.encode(None))
            container.close()
        sim.close()
    rate = sum(e["success"] for e in episodes) / len(episodes)
    print(json.dumps({"task": sim.task, "success_rate": rate, "episodes": episodes, "video": args.video}))
    return 0
