"""Training checkpoints in upstream LeRobot's layout, with no pickle anywhere.

::

    <output_dir>/checkpoints/
        000100/
            pretrained_model/    config.json, model.safetensors, policy_{pre,post}processor*, train_config.json
            training_state/      optimizer_state.safetensors, optimizer_param_groups.json,
                                 scheduler_state.json, rng_state.safetensors, training_step.json,
                                 [ema_state.safetensors, online_model.safetensors]   (with --ema.enable)
        last -> 000100

A checkpoint is assembled in a hidden temporary directory and renamed into place, then ``last`` is
re-pointed atomically, so an interrupted save never leaves a half-written checkpoint behind ``last``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lerobot_core.constants import CHECKPOINTS_DIR, PRETRAINED_MODEL_DIR, TRAINING_STATE_DIR
from lerobot_core.utils.io import atomic_path, atomic_write_json

LAST_CHECKPOINT_LINK = "last"
OPTIMIZER_STATE = "optimizer_state.safetensors"
OPTIMIZER_PARAM_GROUPS = "optimizer_param_groups.json"
SCHEDULER_STATE = "scheduler_state.json"
RNG_STATE = "rng_state.safetensors"
TRAINING_STEP = "training_step.json"
EMA_STATE = "ema_state.safetensors"
ONLINE_MODEL = "online_model.safetensors"


def get_step_identifier(step: int, total_steps: int) -> str:
    """Zero-padded step directory name (at least 6 digits, like upstream)."""
    return f"{step:0{max(6, len(str(total_steps)))}d}"


def save_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    data = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(data, str(tmp))


# ------------------------------------------------------------------------------------------ RNG
def get_rng_state() -> dict[str, torch.Tensor]:
    """Python, NumPy and torch (CPU and CUDA) RNG states as tensors (upstream's key names)."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "py_rng_version": torch.tensor([py_version], dtype=torch.int64),
        "py_rng_state": torch.tensor(py_state, dtype=torch.int64),
        "py_rng_gauss_next": torch.tensor([np.nan if py_gauss is None else py_gauss], dtype=torch.float64),
        "np_rng_state_values": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "np_rng_state_index": torch.tensor([np_state[2]], dtype=torch.int64),
        "np_rng_has_gauss": torch.tensor([np_state[3]], dtype=torch.int64),
        "np_rng_cached_gaussian": torch.tensor([np_state[4]], dtype=torch.float64),
        "torch_rng_state": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda_rng_state"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    gauss = float(state["py_rng_gauss_next"][0]) if "py_rng_gauss_next" in state else float("nan")
    random.setstate((int(state["py_rng_version"][0]), tuple(int(x) for x in state["py_rng_state"].tolist()),
                     None if np.isnan(gauss) else gauss))
    np.random.set_state(("MT19937", state["np_rng_state_values"].numpy().astype(np.uint32),
                         int(state["np_rng_state_index"][0]), int(state["np_rng_has_gauss"][0]),
                         float(state["np_rng_cached_gaussian"][0])))
    torch.set_rng_state(state["torch_rng_state"])
    if "torch_cuda_rng_state" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["torch_cuda_rng_state"])


# ------------------------------------------------------------------------------ optimizer, scheduler
def optimizer_state_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Flatten ``optimizer.state_dict()``: tensors as ``state/<param id>/<name>``, param groups as JSON."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for param_id, param_state in state["state"].items():
        for name, value in param_state.items():
            tensors[f"state/{param_id}/{name}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    groups = json.loads(json.dumps(state["param_groups"], default=lambda o: list(o) if isinstance(o, tuple) else str(o)))
    return tensors, groups


def optimizer_state_from_files(tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, param_id, name = key.split("/", 2)
        state.setdefault(int(param_id), {})[name] = value
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def _scheduler_state(scheduler: Any) -> dict[str, Any]:
    state = scheduler.state_dict()
    return json.loads(json.dumps(state, default=lambda o: None))


# ------------------------------------------------------------------------------------- save / load
def save_training_state(
    directory: Path,
    step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    extra_step_info: dict[str, Any] | None = None,
    extra_rng: dict[str, torch.Tensor] | None = None,
    ema_state: dict[str, torch.Tensor] | None = None,
    online_model_state: dict[str, torch.Tensor] | None = None,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / TRAINING_STEP, {"step": int(step), **(extra_step_info or {})})
    tensors, groups = optimizer_state_to_files(optimizer)
    save_safetensors(tensors, directory / OPTIMIZER_STATE)
    atomic_write_json(directory / OPTIMIZER_PARAM_GROUPS, groups)
    if scheduler is not None:
        atomic_write_json(directory / SCHEDULER_STATE, _scheduler_state(scheduler))
    save_safetensors({**get_rng_state(), **(extra_rng or {})}, directory / RNG_STATE)
    if ema_state is not None:
        save_safetensors(ema_state, directory / EMA_STATE)
    if online_model_state is not None:
        save_safetensors(online_model_state, directory / ONLINE_MODEL)


def load_training_state(
    directory: Path, optimizer: torch.optim.Optimizer, scheduler: Any = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore optimizer, scheduler and global RNGs; return ``training_step.json`` and the RNG tensors."""
    directory = Path(directory)
    step_file = directory / TRAINING_STEP
    if not step_file.is_file():
        raise FileNotFoundError(f"{step_file} not found: {directory} is not a training_state directory")
    step_info = json.loads(step_file.read_text())
    tensors = load_file(str(directory / OPTIMIZER_STATE)) if (directory / OPTIMIZER_STATE).is_file() else {}
    groups = json.loads((directory / OPTIMIZER_PARAM_GROUPS).read_text())
    if len(groups) != len(optimizer.param_groups):
        raise ValueError(
            f"{directory}: the saved optimizer has {len(groups)} parameter groups but this policy's has "
            f"{len(optimizer.param_groups)}; resume with the same policy type and config"
        )
    optimizer.load_state_dict(optimizer_state_from_files(tensors, groups))
    if scheduler is not None:
        scheduler_file = directory / SCHEDULER_STATE
        if not scheduler_file.is_file():
            raise FileNotFoundError(f"{scheduler_file} not found but this run uses an LR scheduler")
        scheduler.load_state_dict(json.loads(scheduler_file.read_text()))
    rng = load_file(str(directory / RNG_STATE))
    set_rng_state(rng)
    return step_info, rng


def load_optional(directory: Path, name: str) -> dict[str, torch.Tensor] | None:
    path = Path(directory) / name
    return load_file(str(path)) if path.is_file() else None


def checkpoint_dir(output_dir: str | Path, step: int, total_steps: int) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIR / get_step_identifier(step, total_steps)


def staging_dir(final_dir: Path) -> Path:
    """Where a checkpoint is assembled before it is renamed to ``final_dir``."""
    return final_dir.parent / f".{final_dir.name}.tmp"


def commit_checkpoint(staging: Path, final_dir: Path) -> None:
    """Move a fully written checkpoint into place and point ``last`` at it."""
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(staging, final_dir)
    update_last_checkpoint(final_dir)


def update_last_checkpoint(checkpoint: Path) -> None:
    link = checkpoint.parent / LAST_CHECKPOINT_LINK
    tmp_link = checkpoint.parent / f".{LAST_CHECKPOINT_LINK}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(checkpoint.name)
    os.replace(tmp_link, link)


def pretrained_dir(checkpoint: Path) -> Path:
    return checkpoint / PRETRAINED_MODEL_DIR


def training_state_dir(checkpoint: Path) -> Path:
    return checkpoint / TRAINING_STATE_DIR
