"""Policy speed on CPU: ACT and Diffusion at their default sizes, two 480×640 cameras and a 6-D state.

Prints one JSON object: inference ms per chunk at batch 1 (exact upstream-order path and the fast path,
with the max difference between their outputs; the minimum over repeats) and training steps/s at batch 8 (forward, backward, optimizer
step). Upstream LeRobot 0.4.4 on the reference machine: ACT 455 ms per chunk, 0.056 train steps/s.

    python benchmarks/policies.py [--policies act,diffusion] [--repeats 5] [--train-steps 3]

The exact path runs upstream's operations in upstream's order, so on a busy machine the interleaved
``*_fast_over_exact`` ratios are the robust estimate of the speed-up over upstream.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from lerobot_core.policies.factory import get_policy_class, make_policy_config
from lerobot_core.processor.features import FeatureType, PolicyFeature

UPSTREAM = {"act": {"inference_ms_per_chunk": 455.0, "train_steps_per_s": 0.056}}
TARGET_INFERENCE_VS_UPSTREAM = 0.6  # issue target: fast path ≤0.6× upstream's time per chunk


def _features(image_hw=(480, 640), state_dim=6, action_dim=6):
    inputs = {
        "observation.state": PolicyFeature(FeatureType.STATE, (state_dim,)),
        "observation.images.front": PolicyFeature(FeatureType.VISUAL, (3, *image_hw)),
        "observation.images.wrist": PolicyFeature(FeatureType.VISUAL, (3, *image_hw)),
    }
    return inputs, {"action": PolicyFeature(FeatureType.ACTION, (action_dim,))}


def _batch(cfg, batch_size, train, gen):
    obs_steps = cfg.n_obs_steps if cfg.type == "diffusion" else None
    lead = (batch_size,) if obs_steps is None else (batch_size, obs_steps)
    batch = {k: torch.randn(*lead, *ft.shape, generator=gen) for k, ft in cfg.input_features.items()}
    if train:
        horizon = cfg.horizon if cfg.type == "diffusion" else cfg.chunk_size
        batch["action"] = torch.randn(batch_size, horizon, cfg.action_feature.shape[0], generator=gen)
        batch["action_is_pad"] = torch.zeros(batch_size, horizon, dtype=torch.bool)
    return batch


def _time_pair(exact, fast, repeats):
    """Min wall time of each function, interleaved so that load from other processes hits both alike."""
    exact()
    fast()  # warm-up (also builds the fast path's folded-weight cache)
    times = {"exact": [], "fast": []}
    for _ in range(repeats):
        for name, fn in (("exact", exact), ("fast", fast)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return min(times["exact"]), min(times["fast"])


def with_train_mode(policy, fast: bool, step):
    def run():
        policy.fast_training = fast
        step()
    return run


def bench(policy_type: str, repeats: int, train_steps: int, image_hw=(480, 640)) -> dict:
    inputs, outputs = _features(image_hw)
    cfg = make_policy_config(policy_type, input_features=inputs, output_features=outputs, device="cpu",
                             pretrained_backbone_weights=None)
    torch.manual_seed(0)
    policy = get_policy_class(policy_type)(cfg)
    gen = torch.Generator().manual_seed(0)
    result: dict = {"config": {k: getattr(cfg, k) for k in ("vision_backbone",) if hasattr(cfg, k)}}
    batch = _batch(cfg, 1, False, gen)
    if policy_type == "act":
        result["config"].update(dim_model=cfg.dim_model, chunk_size=cfg.chunk_size)
        reps = repeats

        def infer():
            return policy.predict_action_chunk(batch)
    else:
        result["config"].update(down_dims=list(cfg.down_dims), horizon=cfg.horizon,
                                num_inference_steps=policy.diffusion.num_inference_steps)
        reps = max(1, min(repeats, 2))  # 100 denoising steps per chunk: slow on CPU

        def infer():
            return policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(0))

    def with_mode(fast: bool, fn):
        def run():
            policy.fast_inference = fast
            return fn()
        return run

    exact_out, fast_out = with_mode(False, infer)(), with_mode(True, infer)()
    t_exact, t_fast = _time_pair(with_mode(False, infer), with_mode(True, infer), reps)
    result["inference_ms_per_chunk_exact"] = 1000 * t_exact
    result["inference_ms_per_chunk"] = 1000 * t_fast
    result["inference_fast_over_exact"] = t_fast / t_exact
    result["fast_vs_exact_max_abs_diff"] = float((fast_out - exact_out).abs().max())

    train_batch = _batch(cfg, 8, True, gen)
    policy.train()
    optimizer = cfg.get_optimizer_preset().build(policy.get_optim_params())

    def step():
        loss, _ = policy.forward(train_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    if hasattr(policy, "fast_training"):
        t_exact, t_fast = _time_pair(with_train_mode(policy, False, step), with_train_mode(policy, True, step),
                                     train_steps)
        result["train_steps_per_s_exact"] = 1.0 / t_exact
        result["train_fast_over_exact_throughput"] = t_exact / t_fast
    else:
        t_fast = min(_time_pair(step, step, train_steps))
    result["train_steps_per_s"] = 1.0 / t_fast
    if policy_type in UPSTREAM:
        up = UPSTREAM[policy_type]
        result["inference_vs_upstream"] = result["inference_ms_per_chunk"] / up["inference_ms_per_chunk"]
        result["inference_target_ms"] = TARGET_INFERENCE_VS_UPSTREAM * up["inference_ms_per_chunk"]
        result["train_vs_upstream"] = result["train_steps_per_s"] / up["train_steps_per_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default="act,diffusion")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--image-hw", default="480,640", help="camera height,width (smoke tests: 96,128)")
    args = parser.parse_args()
    image_hw = tuple(int(v) for v in args.image_hw.split(","))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
           "device": "cpu", "batch_inference": 1, "batch_train": 8, "cameras": f"2 x {image_hw[0]}x{image_hw[1]}", "state_dim": 6}
    for name in args.policies.split(","):
        out[name] = bench(name.strip(), args.repeats, args.train_steps, image_hw)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
