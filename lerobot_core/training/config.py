"""``TrainPipelineConfig``: every ``lerobot-core train`` option (upstream LeRobot's names and defaults).

Parsed by :func:`parse_train_config` from dotted flags and an optional YAML/JSON file. Two flags are
resolved before draccus sees them, as upstream does:

* ``--policy.path=DIR_OR_REPO`` loads that checkpoint's ``config.json`` (fine-tuning); other
  ``--policy.*`` flags override its fields.
* ``--resume=true`` reloads ``train_config.json`` from ``<output_dir>/checkpoints/last`` (or from
  ``--config_path=.../pretrained_model/train_config.json``); flags given now override it (e.g. ``--steps``).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import draccus
import yaml

from lerobot_core.configs.parser import ConfigError, parse_config
from lerobot_core.constants import CHECKPOINTS_DIR, PRETRAINED_MODEL_DIR
from lerobot_core.policies.config import PreTrainedConfig, get_config_class
from lerobot_core.policies.optim import LRSchedulerConfig, OptimizerConfig
from lerobot_core.training.image_transforms import ImageTransformsConfig

TRAIN_CONFIG_NAME = "train_config.json"
LAST_CHECKPOINT_LINK = "last"


@dataclass
class DatasetConfig:
    """Where the training data comes from: a local ``root`` and/or a hub ``repo_id``."""

    repo_id: str | None = None
    root: str | None = None
    episodes: list[int] | None = None
    image_transforms: ImageTransformsConfig = field(default_factory=ImageTransformsConfig)
    revision: str | None = None
    use_imagenet_stats: bool = True
    video_backend: str | None = None


@dataclass
class EMAConfig:
    """Exponential moving average of the weights (ema-pytorch), opt-in; seed defaults."""

    enable: bool = False
    decay: float = 0.99
    warmup_steps: int = 0
    use_for_eval: bool = True


@dataclass
class OfflineEvalConfig:
    """Held-out episodes scored every ``eval_freq`` steps with action L1 / MSE (no simulator)."""

    episodes: list[int] | None = None
    num_holdout_episodes: int = 0
    batch_size: int = 8
    max_batches: int | None = None


@dataclass
class WandBConfig:
    enable: bool = False
    project: str = "lerobot"
    entity: str | None = None
    notes: str | None = None
    run_id: str | None = None
    mode: str | None = None


@dataclass
class TrainPipelineConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    policy: PreTrainedConfig | None = None
    output_dir: str | None = None
    job_name: str | None = None
    resume: bool = False
    seed: int | None = 1000
    num_workers: int = 4
    batch_size: int = 8
    steps: int = 100_000
    eval_freq: int = 20_000
    log_freq: int = 200
    save_checkpoint: bool = True
    save_freq: int = 20_000
    use_policy_training_preset: bool = True
    optimizer: OptimizerConfig | None = None
    scheduler: LRSchedulerConfig | None = None
    eval: OfflineEvalConfig = field(default_factory=OfflineEvalConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    wandb: WandBConfig = field(default_factory=WandBConfig)
    tensorboard: bool = False
    progress_bar: bool = True
    rename_map: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Fill defaults and reject impossible combinations (called before anything heavy runs)."""
        if self.policy is None:
            raise ConfigError("no policy: pass --policy.type=act|diffusion or --policy.path=<checkpoint dir or repo>")
        if not self.dataset.root and not self.dataset.repo_id:
            raise ConfigError("no dataset: pass --dataset.root=<local dataset dir> or --dataset.repo_id=<user/name>")
        for name in ("steps", "batch_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name} must be > 0, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise ConfigError(f"--num_workers must be >= 0, got {self.num_workers}")
        if not self.job_name:
            self.job_name = self.policy.type
        if not self.output_dir:
            now = dt.datetime.now()
            self.output_dir = f"outputs/train/{now:%Y-%m-%d}/{now:%H-%M-%S}_{self.job_name}"
        if self.use_policy_training_preset:
            self.optimizer = self.policy.get_optimizer_preset()
            self.scheduler = self.policy.get_scheduler_preset()
        elif self.optimizer is None:
            raise ConfigError("--use_policy_training_preset=false needs --optimizer.type=adam|adamw (and its fields)")

    def to_dict(self) -> dict[str, Any]:
        data = draccus.encode(self)
        if self.policy is not None:
            data["policy"] = self.policy.to_dict()
        for key in ("optimizer", "scheduler"):
            value = getattr(self, key)
            if value is not None:
                data[key] = {"type": value.type, **draccus.encode(value)}
        return json.loads(json.dumps(data))


# ------------------------------------------------------------------------------------------ parsing
def _flag(argv: list[str], name: str) -> tuple[str | None, list[str]]:
    """Pop ``--name=value`` / ``--name value`` from ``argv``."""
    value, rest, skip = None, [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and i + 1 < len(argv):
            value, skip = argv[i + 1], True
        else:
            rest.append(arg)
    return value, rest


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint step directory from an output dir, a ``checkpoints/<step>`` dir, its ``pretrained_model``
    or a ``train_config.json`` inside it."""
    path = Path(path)
    if path.name == TRAIN_CONFIG_NAME:
        path = path.parent
    if path.name == PRETRAINED_MODEL_DIR:
        path = path.parent
    if (path / CHECKPOINTS_DIR / LAST_CHECKPOINT_LINK).exists():
        path = path / CHECKPOINTS_DIR / LAST_CHECKPOINT_LINK
    if not (path / PRETRAINED_MODEL_DIR / TRAIN_CONFIG_NAME).is_file():
        raise ConfigError(
            f"--resume=true: no checkpoint at {path} (expected {PRETRAINED_MODEL_DIR}/{TRAIN_CONFIG_NAME}); "
            "pass the --output_dir of a previous run or --config_path=<checkpoint>/pretrained_model/train_config.json"
        )
    return path.resolve()


def load_policy_config(path: str, overrides: list[str]) -> PreTrainedConfig:
    """``config.json`` of a saved policy (local dir or hub repo) with ``--policy.*`` flags applied."""
    try:
        base = PreTrainedConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"--policy.path={path}: {e}") from e
    if not overrides:
        base.pretrained_path = str(path)
        return base
    data = base.to_dict()
    config_cls = get_config_class(data.pop("type"))
    asked_type = next((o.split("=", 1)[1] for o in overrides if o.startswith("--policy.type=")), None)
    if asked_type is not None and asked_type != base.type:
        raise ConfigError(f"--policy.type={asked_type} contradicts --policy.path={path}, a {base.type!r} policy; "
                          "drop --policy.type when fine-tuning")
    overrides = [o for o in overrides if not o.startswith("--policy.type=")]
    if not overrides:
        base.pretrained_path = str(path)
        return base
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "policy.json"
        file.write_text(json.dumps(data))
        flags = ["--" + o[len("--policy."):] if o.startswith("--policy.") else o for o in overrides]
        cfg = parse_config(config_cls, [f"--config_path={file}", *flags])
    cfg.pretrained_path = str(path)
    return cfg


def _policy_path_in_file(config_path: str | None, tmp_dir: str) -> tuple[str | None, list[str], str | None]:
    """If the YAML/JSON config sets ``policy.path``, return it, the other ``policy`` keys as flags and a
    copy of the file without the ``policy`` section (written into ``tmp_dir``)."""
    if config_path is None or not Path(config_path).is_file():
        return None, [], config_path
    data = yaml.safe_load(Path(config_path).read_text()) or {}
    policy = data.get("policy") if isinstance(data, dict) else None
    if not isinstance(policy, dict) or "path" not in policy:
        return None, [], config_path
    path = str(policy.pop("path"))
    overrides = [f"--policy.{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in policy.items()]
    data.pop("policy")
    stripped = Path(tmp_dir) / "train.yaml"
    stripped.write_text(yaml.safe_dump(data))
    return path, overrides, str(stripped)


def parse_train_config(argv: list[str]) -> TrainPipelineConfig:
    """Dotted flags (+ optional ``--config_path``) → a :class:`TrainPipelineConfig` (not yet validated)."""
    with tempfile.TemporaryDirectory() as tmp:
        return _parse_train_config(list(argv), tmp)


def _parse_train_config(argv: list[str], tmp: str) -> TrainPipelineConfig:
    config_path, argv = _flag(argv, "config_path")
    resume = _truthy(next((a.split("=", 1)[1] for a in argv if a.startswith("--resume=")), None))
    policy_path, argv = _flag(argv, "policy.path")
    file_policy_path, file_overrides, config_path = _policy_path_in_file(config_path, tmp)
    policy_path = policy_path or file_policy_path

    checkpoint: Path | None = None
    if resume:
        output_dir, _ = _flag(list(argv), "output_dir")
        source = config_path or output_dir
        if source is None:
            raise ConfigError("--resume=true needs --output_dir=<previous run> or --config_path=<train_config.json>")
        checkpoint = find_checkpoint(source)
        config_path = str(checkpoint / PRETRAINED_MODEL_DIR / TRAIN_CONFIG_NAME)
        policy_path, file_overrides = None, []

    policy_flags = [a for a in argv if a.startswith("--policy.")]
    if policy_path is not None:
        argv = [a for a in argv if not a.startswith("--policy.")]
    cfg = parse_config(TrainPipelineConfig, ([f"--config_path={config_path}"] if config_path else []) + argv)
    if policy_path is not None:
        cfg.policy = load_policy_config(policy_path, file_overrides + policy_flags)
    if checkpoint is not None:
        if cfg.policy is None:
            raise ConfigError(f"{config_path} has no policy section; it is not a training checkpoint")
        cfg.resume = True
        cfg.policy.pretrained_path = str(checkpoint / PRETRAINED_MODEL_DIR)
        if not any(a.startswith("--output_dir") for a in argv):
            cfg.output_dir = str(checkpoint.parent.parent)
    return cfg


def train_config_from_dict(data: dict[str, Any]) -> TrainPipelineConfig:
    """Rebuild a config saved as ``train_config.json``."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / TRAIN_CONFIG_NAME
        file.write_text(json.dumps(data))
        return parse_config(TrainPipelineConfig, [f"--config_path={file}"])
