"""Pipelines: upstream on-disk format (fixture files reproduced byte for byte), in-memory serialization,
overrides, registry and the basic steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lerobot_core.processor import (
    AddBatchDimensionProcessorStep,
    DataProcessorPipeline,
    DeviceProcessorStep,
    PolicyProcessorPipeline,
    ProcessorStepRegistry,
    RenameObservationsProcessorStep,
)


@pytest.fixture(scope="module")
def act_dir(upstream_fixtures: Path) -> Path:
    return upstream_fixtures / "act" / "pretrained_model"


@pytest.mark.parametrize("name", ["policy_preprocessor", "policy_postprocessor"])
def test_fixture_round_trip_is_identical(act_dir: Path, tmp_path: Path, name: str) -> None:
    pipeline = PolicyProcessorPipeline.from_pretrained(act_dir, f"{name}.json")
    assert pipeline.get_config() == json.loads((act_dir / f"{name}.json").read_text())
    pipeline.save_pretrained(tmp_path)
    assert (tmp_path / f"{name}.json").read_text() == (act_dir / f"{name}.json").read_text()
    upstream_files = sorted(p.name for p in act_dir.glob(f"{name}*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == upstream_files
    for f in upstream_files:
        if f.endswith(".safetensors"):
            ours, theirs = load_file(tmp_path / f), load_file(act_dir / f)
            assert ours.keys() == theirs.keys()
            assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_in_memory_config_and_state(act_dir: Path) -> None:
    pre = PolicyProcessorPipeline.from_pretrained(act_dir, "policy_preprocessor.json")
    config, state = pre.get_config(), pre.state_dict()
    assert list(state) == ["policy_preprocessor_step_3_normalizer_processor"]
    rebuilt = PolicyProcessorPipeline.from_config(config, state_dict=state)
    batch = {"observation.state": torch.randn(6), "observation.images.front": torch.rand(3, 96, 128),
             "observation.images.wrist": torch.rand(3, 96, 128), "task": "pick"}
    a, b = pre(batch), rebuilt(batch)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
    with pytest.raises(KeyError, match="Missing state key"):
        PolicyProcessorPipeline.from_config(config, state_dict={})
    with pytest.raises(KeyError, match="Unexpected processor state keys"):
        PolicyProcessorPipeline.from_config(config, state_dict={**state, "extra_step_9": {}})


def test_preprocessor_batches_and_keeps_other_keys(act_dir: Path) -> None:
    pre = PolicyProcessorPipeline.from_pretrained(act_dir, "policy_preprocessor.json")
    out = pre({"observation.state": torch.zeros(6), "observation.images.front": torch.zeros(3, 96, 128),
               "observation.images.wrist": torch.zeros(3, 96, 128), "task": "pick", "index": torch.tensor(3),
               "action": torch.zeros(6)})
    assert out["observation.state"].shape == (1, 6)
    assert out["observation.images.front"].shape == (1, 3, 96, 128)
    assert out["action"].shape == (1, 6)
    assert out["task"] == ["pick"] and out["index"].shape == (1,)


def test_overrides(act_dir: Path) -> None:
    stats = {"action": {"mean": [0.0] * 6, "std": [1.0] * 6}}
    post = PolicyProcessorPipeline.from_pretrained(
        act_dir, "policy_postprocessor.json", overrides={"unnormalizer_processor": {"stats": stats}})
    x = torch.randn(1, 10, 6)
    torch.testing.assert_close(post(x), x)  # identity stats override the saved ones
    with pytest.raises(KeyError, match="overrides for unknown steps"):
        PolicyProcessorPipeline.from_pretrained(act_dir, "policy_postprocessor.json", overrides={"nope": {}})


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PolicyProcessorPipeline.from_pretrained(tmp_path, "policy_preprocessor.json")
    (tmp_path / "p.json").write_text(json.dumps({"name": "p", "steps": [{"registry_name": "evil", "config": {}}]}))
    with pytest.raises(KeyError, match="unknown processor step 'evil'"):
        PolicyProcessorPipeline.from_pretrained(tmp_path, "p.json")
    (tmp_path / "q.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a processor config"):
        PolicyProcessorPipeline.from_pretrained(tmp_path, "q.json")


def test_basic_steps() -> None:
    assert {"rename_observations_processor", "to_batch_processor", "device_processor", "normalizer_processor",
            "unnormalizer_processor"} <= set(ProcessorStepRegistry.list())
    pipe = DataProcessorPipeline(
        steps=[RenameObservationsProcessorStep(rename_map={"observation.images.top": "observation.images.front"}),
               AddBatchDimensionProcessorStep(), DeviceProcessorStep(device="cpu", float_dtype="float16")],
        name="my pipe")
    out = pipe({"observation.images.top": torch.rand(3, 4, 4), "observation.state": torch.rand(2, 5),
                "action_is_pad": torch.zeros(3, dtype=torch.bool)})
    assert set(out) == {"observation.images.front", "observation.state", "action_is_pad"}
    assert out["observation.images.front"].shape == (1, 3, 4, 4) and out["observation.images.front"].dtype == torch.float16
    assert out["observation.state"].shape == (2, 5)  # already batched
    assert out["action_is_pad"].dtype == torch.bool  # non-float tensors keep their dtype
    assert pipe.get_config()["name"] == "my pipe" and pipe.state_dict() == {}
    with pytest.raises(ValueError, match="float_dtype"):
        DeviceProcessorStep(float_dtype="int3")
