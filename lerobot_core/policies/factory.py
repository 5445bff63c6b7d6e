"""Build policies and their processors from configs, checkpoints and dataset metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lerobot_core.constants import POLICY_POSTPROCESSOR_DEFAULT_NAME, POLICY_PREPROCESSOR_DEFAULT_NAME
from lerobot_core.policies.config import PreTrainedConfig, get_config_class
from lerobot_core.policies.pretrained import PreTrainedPolicy
from lerobot_core.processor.core import policy_action_to_transition, transition_to_policy_action
from lerobot_core.processor.features import FeatureType, PolicyFeature, dataset_to_policy_features
from lerobot_core.processor.normalize import NormalizerProcessorStep, UnnormalizerProcessorStep
from lerobot_core.processor.pipeline import PolicyProcessorPipeline
from lerobot_core.processor.steps import (
    AddBatchDimensionProcessorStep,
    DeviceProcessorStep,
    RenameObservationsProcessorStep,
)


def get_policy_class(name: str) -> type[PreTrainedPolicy]:
    """The policy class registered for ``type`` ``name`` (``"act"``, ``"diffusion"``)."""
    if name == "act":
        from lerobot_core.policies.act.modeling_act import ACTPolicy

        return ACTPolicy
    if name == "diffusion":
        from lerobot_core.policies.diffusion.modeling_diffusion import DiffusionPolicy

        return DiffusionPolicy
    raise ValueError(f"unknown policy type {name!r}; available: ['act', 'diffusion']")


def make_policy_config(policy_type: str, **kwargs: Any) -> PreTrainedConfig:
    """A config of ``policy_type`` with ``kwargs`` overriding the defaults."""
    return get_config_class(policy_type)(**kwargs)


def _features_from(ds_meta: Any = None, features: dict[str, Any] | None = None) -> dict[str, PolicyFeature]:
    raw = features if features is not None else getattr(ds_meta, "features", None)
    if raw is None:
        raise ValueError("make_policy needs dataset metadata (ds_meta) or features to size the policy")
    values = list(raw.values())
    if values and isinstance(values[0], PolicyFeature):
        return dict(raw)
    return dataset_to_policy_features(raw)


def make_policy(
    cfg: PreTrainedConfig,
    ds_meta: Any = None,
    *,
    features: dict[str, Any] | None = None,
    rename_map: dict[str, str] | None = None,
) -> PreTrainedPolicy:
    """Instantiate the policy for ``cfg``.

    With ``cfg.pretrained_path`` set, the weights are loaded from that directory or hub repo. Input and
    output features come from the config when it has them, otherwise from ``ds_meta.features`` (a
    ``LeRobotDatasetMetadata``) or ``features`` (dataset-style feature dicts or ``PolicyFeature``s);
    when both exist, the dataset must provide every input the policy needs.
    """
    policy_cls = get_policy_class(cfg.type)
    if ds_meta is not None or features is not None:
        ds_features = _features_from(ds_meta, features)
        if rename_map:
            ds_features = {rename_map.get(k, k): v for k, v in ds_features.items()}
        if not cfg.output_features:
            cfg.output_features = {k: ft for k, ft in ds_features.items() if ft.type == FeatureType.ACTION}
        if not cfg.input_features:
            cfg.input_features = {k: ft for k, ft in ds_features.items() if k not in cfg.output_features}
        check_features_match(cfg, ds_features)
    if not cfg.input_features or not cfg.output_features:
        raise ValueError(
            f"{cfg.type} policy has no input/output features: pass ds_meta (dataset metadata) or features, "
            "or load a checkpoint whose config.json lists them"
        )
    if cfg.pretrained_path:
        return policy_cls.from_pretrained(cfg.pretrained_path, config=cfg)
    return policy_cls(cfg).to(cfg.device)


def check_features_match(cfg: PreTrainedConfig, ds_features: dict[str, PolicyFeature]) -> None:
    """Raise if the dataset lacks a feature the policy needs or has it with another shape."""
    problems = []
    for key, ft in {**cfg.input_features, **cfg.output_features}.items():
        if key not in ds_features:
            problems.append(f"{key!r} is missing from the dataset")
        elif tuple(ds_features[key].shape) != tuple(ft.shape):
            problems.append(f"{key!r} has shape {tuple(ds_features[key].shape)} in the dataset but "
                            f"{tuple(ft.shape)} in the policy config")
    if problems:
        raise ValueError(
            f"dataset does not match the {cfg.type} policy: " + "; ".join(problems)
            + f". Dataset features: {sorted(ds_features)}. Use a rename_map or a matching dataset."
        )


def make_pre_post_processors(
    policy_cfg: PreTrainedConfig,
    pretrained_path: str | Path | None = None,
    *,
    dataset_stats: dict[str, dict[str, Any]] | None = None,
    preprocessor_overrides: dict[str, dict[str, Any]] | None = None,
    postprocessor_overrides: dict[str, dict[str, Any]] | None = None,
    rename_map: dict[str, str] | None = None,
) -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline]:
    """The pre-processor (flat batch → normalized batch on the device) and post-processor (action →
    unnormalized action on CPU... or the config's device) for ``policy_cfg``.

    With ``pretrained_path`` the saved ``policy_preprocessor.json`` / ``policy_postprocessor.json`` are
    loaded (``dataset_stats``, when given, replace the saved stats). Otherwise they are built as upstream
    does for ACT and Diffusion: rename → to-batch → device → normalizer, and unnormalizer → device(cpu).
    """
    if pretrained_path is not None:
        pre_over = dict(preprocessor_overrides or {})
        post_over = dict(postprocessor_overrides or {})
        pre_over.setdefault("device_processor", {"device": policy_cfg.device})
        if rename_map:
            pre_over.setdefault("rename_observations_processor", {"rename_map": dict(rename_map)})
        if dataset_stats is not None:
            pre_over.setdefault("normalizer_processor", {"stats": dataset_stats})
            post_over.setdefault("unnormalizer_processor", {"stats": dataset_stats})
        pre = PolicyProcessorPipeline.from_pretrained(
            pretrained_path, f"{POLICY_PREPROCESSOR_DEFAULT_NAME}.json", overrides=pre_over)
        post = PolicyProcessorPipeline.from_pretrained(
            pretrained_path, f"{POLICY_POSTPROCESSOR_DEFAULT_NAME}.json", overrides=post_over,
            to_transition=policy_action_to_transition, to_output=transition_to_policy_action)
        return pre, post

    features = {**policy_cfg.input_features, **policy_cfg.output_features}
    norm_map = dict(policy_cfg.normalization_mapping)
    pre = PolicyProcessorPipeline(
        steps=[
            RenameObservationsProcessorStep(rename_map=dict(rename_map or {})),
            AddBatchDimensionProcessorStep(),
            DeviceProcessorStep(device=policy_cfg.device),
            NormalizerProcessorStep(features=features, norm_map=norm_map, stats=dataset_stats,
                                    device=policy_cfg.device),
        ],
        name=POLICY_PREPROCESSOR_DEFAULT_NAME,
    )
    post = PolicyProcessorPipeline(
        steps=[
            UnnormalizerProcessorStep(features=policy_cfg.output_features, norm_map=norm_map, stats=dataset_stats),
            DeviceProcessorStep(device="cpu"),
        ],
        name=POLICY_POSTPROCESSOR_DEFAULT_NAME,
        to_transition=policy_action_to_transition,
        to_output=transition_to_policy_action,
    )
    return pre, post
