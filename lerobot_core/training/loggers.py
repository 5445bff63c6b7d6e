"""Training metrics: running averages, the tqdm progress bar and optional TensorBoard / W&B sinks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class AverageMeter:
    """Mean of the values added since the last ``reset``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += float(value) * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else float("nan")


class MetricSinks:
    """Fan-out of scalar metrics to TensorBoard and/or Weights & Biases (main process only)."""

    def __init__(self, tensorboard_dir: Path | None = None, wandb_cfg: Any = None, run_config: dict | None = None,
                 job_name: str | None = None):
        self._tb = None
        self._wandb = None
        if tensorboard_dir is not None:
            self._tb = make_tensorboard_writer(tensorboard_dir)
        if wandb_cfg is not None and wandb_cfg.enable:
            self._wandb = init_wandb(wandb_cfg, run_config or {}, job_name, tensorboard_dir)

    def log(self, metrics: dict[str, float], step: int, prefix: str = "train") -> None:
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(f"{prefix}/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log({f"{prefix}/{k}": v for k, v in metrics.items()}, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def check_sinks_available(tensorboard: bool, wandb: bool) -> None:
    """Fail fast (before any training) when an enabled sink's package is not installed."""
    if tensorboard:
        try:
            import tensorboard as _tb  # noqa: F401  (torch.utils.tensorboard needs it)
        except ImportError as e:
            raise RuntimeError(
                "--tensorboard=true needs the 'tensorboard' package: pip install tensorboard "
                "(or run without --tensorboard)"
            ) from e
    if wandb:
        try:
            import wandb as _wandb  # noqa: F401
        except ImportError as e:
            raise RuntimeError(
                "--wandb.enable=true needs the 'wandb' package: pip install wandb (or run without --wandb.enable)"
            ) from e


def make_tensorboard_writer(log_dir: Path):
    check_sinks_available(tensorboard=True, wandb=False)
    from torch.utils.tensorboard import SummaryWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(log_dir))


def init_wandb(cfg: Any, run_config: dict, job_name: str | None, log_dir: Path | None):
    check_sinks_available(tensorboard=False, wandb=True)
    import wandb

    return wandb.init(
        project=cfg.project, entity=cfg.entity, notes=cfg.notes, id=cfg.run_id, mode=cfg.mode, name=job_name,
        config=run_config, dir=str(log_dir) if log_dir else None, resume="allow" if cfg.run_id else None,
    )


def format_metrics(step: int, metrics: dict[str, float]) -> str:
    parts = [f"step:{step}"]
    for key, value in metrics.items():
        parts.append(f"{key}:{value:.3g}" if isinstance(value, float) else f"{key}:{value}")
    return " ".join(parts)
