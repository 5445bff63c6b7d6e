"""The configuration convention: dataclasses, dotted flags, YAML files, `type`-selected sections."""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path

import draccus
import pytest

from lerobot_core.configs import parse_config
from lerobot_core.configs.parser import ConfigError


@dataclasses.dataclass
class _PolicyConfig(draccus.ChoiceRegistry, abc.ABC):
    lr: float = 1e-4


@_PolicyConfig.register_subclass("tiny_act")
@dataclasses.dataclass
class _TinyActConfig(_PolicyConfig):
    chunk_size: int = 100


@dataclasses.dataclass
class _DatasetConfig:
    root: str | None = None
    repo_id: str = "local/demo"


@dataclasses.dataclass
class _TrainConfig:
    dataset: _DatasetConfig = dataclasses.field(default_factory=_DatasetConfig)
    policy: _PolicyConfig | None = None
    steps: int = 10


def test_dotted_flags_set_nested_fields_and_select_policy_type() -> None:
    cfg = parse_config(_TrainConfig, ["--policy.type=tiny_act", "--policy.chunk_size=5", "--dataset.root=d", "--steps=3"])
    assert isinstance(cfg.policy, _TinyActConfig)
    assert (cfg.policy.chunk_size, cfg.policy.lr, cfg.dataset.root, cfg.steps) == (5, 1e-4, "d", 3)


def test_yaml_file_then_flags_override(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("steps: 7\ndataset:\n  root: from_yaml\npolicy:\n  type: tiny_act\n  lr: 0.5\n")
    cfg = parse_config(_TrainConfig, [f"--config_path={path}", "--dataset.root=from_flag"])
    assert cfg.steps == 7 and cfg.policy.lr == 0.5 and cfg.dataset.root == "from_flag"


def test_missing_config_file_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config_path=.*no such file"):
        parse_config(_TrainConfig, [f"--config_path={tmp_path / 'nope.yaml'}"])


def test_bad_value_is_a_clear_error() -> None:
    with pytest.raises((ConfigError, SystemExit)):
        parse_config(_TrainConfig, ["--steps=many"])
