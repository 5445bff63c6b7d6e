"""``lerobot-core train``: the training loop (single process, multi-GPU and multi-node through accelerate).

    lerobot-core train --dataset.root=data/pick --policy.type=act --output_dir=outputs/act --steps=20000
    accelerate launch --num_processes=4 -m lerobot_core.training.train --dataset.root=... --policy.type=act

Setup (everything that can fail on bad input) runs before the first step: config validation, dataset
metadata and the policy/dataset feature check, policy and processors, optimizer/scheduler presets, resume.
Multi-process rules (lessons from upstream): the dataset is opened by each node's local main process first
(download/cache once per node), the ``EpisodeAwareSampler`` has its own seeded generator that accelerate
synchronizes across ranks, and logged/evaluated metrics are sums reduced over ranks before dividing.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lerobot_core.configs.parser import ConfigError
from lerobot_core.constants import PRETRAINED_MODEL_DIR
from lerobot_core.datasets.sampler import EpisodeAwareSampler
from lerobot_core.training import checkpoint as ckpt
from lerobot_core.training.config import TRAIN_CONFIG_NAME, TrainPipelineConfig, parse_train_config
from lerobot_core.training.data import (
    camera_stats_with_imagenet,
    check_dataset_for_policy,
    episode_row_ranges,
    load_metadata,
    make_dataset,
    split_episodes,
)
from lerobot_core.training.evaluate import action_error_sums, metrics_from_sums
from lerobot_core.training.image_transforms import make_image_transforms
from lerobot_core.training.loggers import AverageMeter, MetricSinks, check_sinks_available, format_metrics
from lerobot_core.utils.io import atomic_write_json

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run did: the per-step training losses of this process, the last offline-eval metrics and
    the checkpoints written (handy for tests and notebooks)."""

    step: int = 0
    losses: list[float] = field(default_factory=list)
    eval_metrics: dict[str, float] | None = None
    checkpoints: list[str] = field(default_factory=list)


def make_accelerator(cfg: TrainPipelineConfig):
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    device_type = torch.device(cfg.policy.device).type if cfg.policy.device else "cpu"
    kwargs: dict[str, Any] = {"cpu": device_type == "cpu", "step_scheduler_with_optimizer": False,
                              "kwargs_handlers": [DistributedDataParallelKwargs(find_unused_parameters=True)]}
    if cfg.policy.use_amp:
        kwargs["mixed_precision"] = "bf16" if device_type == "cpu" else "fp16"
    return Accelerator(**kwargs)


class Trainer:
    """One training run. ``setup()`` does every check and builds everything; ``run()`` trains."""

    def __init__(self, cfg: TrainPipelineConfig, accelerator: Any = None):
        self.cfg = cfg
        self.accelerator = accelerator

    # ------------------------------------------------------------------------------------- setup
    def setup(self) -> Trainer:
        cfg = self.cfg
        cfg.validate()
        check_sinks_available(cfg.tensorboard, cfg.wandb.enable)
        self.output_dir = Path(cfg.output_dir)
        if not cfg.resume and self.output_dir.is_dir() and any(self.output_dir.iterdir()):
            raise FileExistsError(
                f"--output_dir={self.output_dir} already exists and is not empty; pass --resume=true to continue "
                "that run or choose a new --output_dir"
            )
        self.accelerator = self.accelerator or make_accelerator(cfg)
        acc = self.accelerator
        from accelerate.utils import set_seed

        if cfg.seed is not None:
            set_seed(cfg.seed + acc.process_index)

        with acc.local_main_process_first():  # once per node: hub download / cache build
            meta = load_metadata(cfg.dataset)
        self.meta = meta
        check_dataset_for_policy(cfg.policy, meta, cfg.rename_map)
        self.train_episodes, self.eval_episodes = split_episodes(
            meta, cfg.dataset.episodes, cfg.eval.episodes, cfg.eval.num_holdout_episodes)

        # Policy (weights from --policy.path or the resumed checkpoint), then the processors.
        from lerobot_core.policies.factory import make_policy, make_pre_post_processors

        cfg.policy.device = str(acc.device)
        self.resume_dir = Path(cfg.policy.pretrained_path).parent if cfg.resume else None
        policy = make_policy(cfg.policy, ds_meta=meta, rename_map=cfg.rename_map or None)
        stats = camera_stats_with_imagenet(meta) if cfg.dataset.use_imagenet_stats else meta.stats
        if cfg.resume:
            pre, post = make_pre_post_processors(cfg.policy, pretrained_path=cfg.policy.pretrained_path)
        elif cfg.policy.pretrained_path:
            pre, post = make_pre_post_processors(cfg.policy, pretrained_path=cfg.policy.pretrained_path,
                                                 dataset_stats=stats, rename_map=cfg.rename_map or None)
        else:
            pre, post = make_pre_post_processors(cfg.policy, dataset_stats=stats, rename_map=cfg.rename_map or None)
        self.preprocessor, self.postprocessor = pre, post
        cfg.policy.device = acc.device.type  # saved configs say "cuda", not this rank's "cuda:3"
        online_state = None
        if self.resume_dir is not None:
            online_state = ckpt.load_optional(ckpt.training_state_dir(self.resume_dir), ckpt.ONLINE_MODEL)
            if online_state is not None:
                policy.load_weights(online_state, source=ckpt.ONLINE_MODEL)
        policy.train()

        self.optimizer = cfg.optimizer.build(policy.get_optim_params())
        self.grad_clip_norm = float(getattr(cfg.optimizer, "grad_clip_norm", 0.0) or 0.0)
        self.scheduler = cfg.scheduler.build(self.optimizer, cfg.steps) if cfg.scheduler is not None else None

        # Data: one dataset for training (with augmentation), one for the held-out episodes.
        all_selected = cfg.dataset.episodes is None and not self.eval_episodes
        train_eps = None if all_selected else self.train_episodes
        self.train_dataset = make_dataset(cfg.dataset, meta, cfg.policy, train_eps,
                                          make_image_transforms(cfg.dataset.image_transforms))
        ranges = episode_row_ranges(meta, train_eps)
        seed = cfg.seed if cfg.seed is not None else 0
        self.sampler_generator = torch.Generator().manual_seed(seed)
        self.loader_generator = torch.Generator().manual_seed(seed + 1)
        drop_last_frames = int(getattr(cfg.policy, "drop_n_last_frames", 0) or 0)
        sampler = EpisodeAwareSampler(
            [r[0] for r in ranges.values()], [r[1] for r in ranges.values()],
            drop_n_last_frames=drop_last_frames, shuffle=True, generator=self.sampler_generator)
        if len(sampler) == 0:
            raise ValueError(
                f"no frame to train on: the {len(ranges)} training episodes are all shorter than "
                f"drop_n_last_frames={drop_last_frames} (+1); record longer episodes or lower "
                "--policy.drop_n_last_frames"
            )
        loader = torch.utils.data.DataLoader(
            self.train_dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
            pin_memory=acc.device.type == "cuda", drop_last=False, generator=self.loader_generator,
            prefetch_factor=2 if cfg.num_workers > 0 else None, persistent_workers=cfg.num_workers > 0)
        self.eval_dataset = None
        if self.eval_episodes:
            self.eval_dataset = make_dataset(cfg.dataset, meta, cfg.policy, self.eval_episodes)

        self.policy, self.optimizer, self.loader = acc.prepare(policy, self.optimizer, loader)
        self.ema = None
        if cfg.ema.enable:
            from ema_pytorch import EMA

            self.ema = EMA(acc.unwrap_model(self.policy), beta=cfg.ema.decay, update_after_step=cfg.ema.warmup_steps,
                           update_every=1, include_online_model=False)
            self.ema.to(acc.device)

        self.step, self.epoch, self.epoch_batches = 0, 0, 0
        self.epoch_start_states: tuple[torch.Tensor, torch.Tensor] | None = None
        if self.resume_dir is not None:
            self._restore_training_state(online_state is not None)

        tb_dir = self.output_dir / "tensorboard" if cfg.tensorboard else None
        self.sinks = MetricSinks(tb_dir, cfg.wandb, cfg.to_dict(), cfg.job_name) if acc.is_main_process else None
        return self

    def _restore_training_state(self, had_online_state: bool) -> None:
        state_dir = ckpt.training_state_dir(self.resume_dir)
        info, rng = ckpt.load_training_state(state_dir, self.optimizer, self.scheduler)
        self.step = int(info["step"])
        self.epoch = int(info.get("epoch", 0))
        self.epoch_batches = int(info.get("epoch_batches", 0))
        if "sampler_generator_state" in rng and "loader_generator_state" in rng:
            self.epoch_start_states = (rng["sampler_generator_state"], rng["loader_generator_state"])
        if self.ema is not None:
            ema_state = ckpt.load_optional(state_dir, ckpt.EMA_STATE)
            if ema_state is None:
                logger.warning("resuming with --ema.enable but %s has no %s: EMA starts fresh", state_dir,
                               ckpt.EMA_STATE)
            else:
                self.ema.load_state_dict(ema_state)
        elif had_online_state:
            logger.warning("the checkpoint was trained with EMA; resuming without it from the online weights")
        if self.accelerator.is_main_process:
            logger.info("resumed from %s at step %d", self.resume_dir, self.step)

    # --------------------------------------------------------------------------------------- run
    def eval_policy(self):
        if self.ema is not None and self.cfg.ema.use_for_eval:
            return self.ema.ema_model
        return self.accelerator.unwrap_model(self.policy)

    def evaluate(self) -> dict[str, float]:
        acc, cfg = self.accelerator, self.cfg
        rows = list(range(len(self.eval_dataset)))[acc.process_index :: acc.num_processes]
        # With training workers, decode in a worker here too: a parent that decoded video (and so runs
        # decoder threads) must not fork DataLoader workers afterwards.
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(self.eval_dataset, rows),
                                             batch_size=cfg.eval.batch_size, shuffle=False,
                                             num_workers=1 if cfg.num_workers > 0 else 0)
        sums = action_error_sums(self.eval_policy(), self.preprocessor, self.postprocessor, loader,
                                 cfg.eval.max_batches, seed=cfg.seed or 0)
        keys = sorted(sums)
        total = acc.reduce(torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=acc.device), "sum")
        return metrics_from_sums(dict(zip(keys, total.tolist())))

    def save_checkpoint(self) -> Path:
        acc, cfg = self.accelerator, self.cfg
        final = ckpt.checkpoint_dir(self.output_dir, self.step, cfg.steps)
        acc.wait_for_everyone()
        if acc.is_main_process:
            stage = ckpt.staging_dir(final)
            shutil.rmtree(stage, ignore_errors=True)
            online = acc.unwrap_model(self.policy)
            model_dir = stage / PRETRAINED_MODEL_DIR
            (self.ema.ema_model if self.ema is not None else online).save_pretrained(model_dir)
            self.preprocessor.save_pretrained(model_dir)
            self.postprocessor.save_pretrained(model_dir)
            atomic_write_json(model_dir / TRAIN_CONFIG_NAME, cfg.to_dict())
            sampler_state, loader_state = self.epoch_start_states
            ckpt.save_training_state(
                ckpt.training_state_dir(stage), self.step, self.optimizer, self.scheduler,
                extra_step_info={"epoch": self.epoch, "epoch_batches": self.epoch_batches},
                extra_rng={"sampler_generator_state": sampler_state, "loader_generator_state": loader_state},
                ema_state=self.ema.state_dict() if self.ema is not None else None,
                online_model_state=online.state_dict() if self.ema is not None else None,
            )
            ckpt.commit_checkpoint(stage, final)
            logger.info("checkpoint saved: %s", final)
        acc.wait_for_everyone()
        return final

    def run(self) -> TrainResult:
        acc, cfg = self.accelerator, self.cfg
        result = TrainResult(step=self.step)
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True,
                   disable=not (acc.is_main_process and cfg.progress_bar))
        loss_meter, grad_meter = AverageMeter(), AverageMeter()
        data_time, update_time = AverageMeter(), AverageMeter()
        window_start, window_steps = time.perf_counter(), 0
        samples_per_step = cfg.batch_size * acc.num_processes
        if acc.is_main_process:
            logger.info("training %s on %d frames (%d episodes, %d held out) for %d steps on %d process(es), "
                        "output %s", cfg.policy.type, len(self.loader.dataset), len(self.train_episodes),
                        len(self.eval_episodes), cfg.steps, acc.num_processes, self.output_dir)
        while self.step < cfg.steps:
            if self.epoch_start_states is not None:  # resuming inside an epoch: replay its order, skip its start
                self.sampler_generator.set_state(self.epoch_start_states[0])
                self.loader_generator.set_state(self.epoch_start_states[1])
                batches = acc.skip_first_batches(self.loader, self.epoch_batches) if self.epoch_batches else self.loader
            else:
                self.epoch_batches = 0
                self.epoch_start_states = (self.sampler_generator.get_state(), self.loader_generator.get_state())
                batches = self.loader
            fetch_start = time.perf_counter()
            finished_epoch = True
            for batch in batches:
                data_time.update(time.perf_counter() - fetch_start)
                loss, grad_norm, update_s = self._update(batch)
                update_time.update(update_s)
                self.step += 1
                self.epoch_batches += 1
                window_steps += 1
                result.losses.append(loss)
                loss_meter.update(loss)
                grad_meter.update(grad_norm)
                lr = self.optimizer.param_groups[0]["lr"]
                sps = samples_per_step * window_steps / max(time.perf_counter() - window_start, 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.1e}", samples_s=f"{sps:.1f}", refresh=False)
                if cfg.log_freq > 0 and self.step % cfg.log_freq == 0:
                    self._log(loss_meter, grad_meter, data_time, update_time, lr, sps)
                    window_start, window_steps = time.perf_counter(), 0
                if self.eval_dataset is not None and cfg.eval_freq > 0 and self.step % cfg.eval_freq == 0:
                    result.eval_metrics = self.evaluate()
                    if acc.is_main_process:
                        logger.info("eval %s", format_metrics(self.step, result.eval_metrics))
                        self.sinks.log(result.eval_metrics, self.step, prefix="eval")
                if cfg.save_checkpoint and (self.step % max(cfg.save_freq, 1) == 0 or self.step == cfg.steps):
                    result.checkpoints.append(str(self.save_checkpoint()))
                if self.step >= cfg.steps:
                    finished_epoch = False
                    break
                fetch_start = time.perf_counter()
            if finished_epoch:
                self.epoch += 1
                self.epoch_batches = 0
                self.epoch_start_states = None
        bar.close()
        if self.sinks is not None:
            self.sinks.close()
        acc.wait_for_everyone()
        result.step = self.step
        return result

    def _update(self, batch: dict[str, Any]) -> tuple[float, float, float]:
        acc = self.accelerator
        start = time.perf_counter()
        batch = self.preprocessor(batch)
        self.policy.train()
        with acc.autocast():
            loss, _ = self.policy(batch)
        acc.backward(loss)
        params = [p for p in self.policy.parameters() if p.grad is not None]
        if self.grad_clip_norm > 0:
            grad_norm = acc.clip_grad_norm_(params, self.grad_clip_norm)
        else:
            grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])) if params else 0.0
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update()
        return float(loss.detach()), float(grad_norm), time.perf_counter() - start

    def _log(self, loss_meter, grad_meter, data_time, update_time, lr: float, sps: float) -> None:
        acc = self.accelerator
        local = torch.tensor([loss_meter.total, loss_meter.count, grad_meter.total, grad_meter.count],
                             dtype=torch.float64, device=acc.device)
        total = acc.reduce(local, "sum").tolist()
        metrics = {
            "loss": total[0] / max(total[1], 1.0),
            "grad_norm": total[2] / max(total[3], 1.0),
            "lr": lr,
            "samples_per_s": sps,
            "update_s": update_time.avg,
            "data_s": data_time.avg,
            "epoch": self.epoch,
        }
        if self.ema is not None:
            metrics["ema_decay"] = float(self.ema.get_current_decay())
        for meter in (loss_meter, grad_meter, data_time, update_time):
            meter.reset()
        if acc.is_main_process:
            logger.info(format_metrics(self.step, metrics))
            self.sinks.log(metrics, self.step)


def train(cfg: TrainPipelineConfig) -> TrainResult:
    """Validate ``cfg``, build everything, train; returns the losses and checkpoints (see :class:`TrainResult`)."""
    return Trainer(cfg).setup().run()


def _explain(error: BaseException) -> str:
    """The error message plus its root cause (draccus hides why a config could not be built)."""
    message, cause = str(error), error.__cause__
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    if cause is not None and str(cause) not in message:
        message += f" — {type(cause).__name__}: {cause}"
    return message


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        trainer = Trainer(parse_train_config(argv)).setup()
    except (ConfigError, ValueError, KeyError, FileExistsError, FileNotFoundError, RuntimeError) as e:
        print(f"lerobot-core train: error: {_explain(e)}", file=sys.stderr)
        return 2
    result = trainer.run()
    if result.checkpoints and trainer.accelerator.is_main_process:
        logger.info("done: %d steps, last checkpoint %s", result.step,
                    Path(result.checkpoints[-1]).parent / ckpt.LAST_CHECKPOINT_LINK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
