"""Feature descriptions shared by policies and processors (upstream ``lerobot.configs.types`` names)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from lerobot_core.constants import ACTION, OBS_ENV_STATE, OBS_STR


class FeatureType(str, Enum):
    STATE = "STATE"
    VISUAL = "VISUAL"
    ENV = "ENV"
    ACTION = "ACTION"
    REWARD = "REWARD"
    LANGUAGE = "LANGUAGE"


class NormalizationMode(str, Enum):
    MIN_MAX = "MIN_MAX"
    MEAN_STD = "MEAN_STD"
    IDENTITY = "IDENTITY"
    QUANTILES = "QUANTILES"
    QUANTILE10 = "QUANTILE10"


@dataclass
class PolicyFeature:
    """One policy input or output: its kind and the shape of one frame (images are ``(C, H, W)``)."""

    type: FeatureType
    shape: tuple[int, ...]


def feature_to_json(feature: PolicyFeature) -> dict[str, Any]:
    return {"type": FeatureType(feature.type).value, "shape": list(feature.shape)}


def feature_from_json(value: PolicyFeature | dict[str, Any]) -> PolicyFeature:
    if isinstance(value, PolicyFeature):
        return PolicyFeature(type=FeatureType(value.type), shape=tuple(value.shape))
    return PolicyFeature(type=FeatureType(value["type"]), shape=tuple(int(d) for d in value["shape"]))


def dataset_to_policy_features(features: dict[str, dict[str, Any]]) -> dict[str, PolicyFeature]:
    """Turn dataset ``info.json`` features into policy features, as upstream does.

    Images and videos become ``VISUAL`` with a channel-first shape, ``observation.environment_state``
    becomes ``ENV``, other ``observation.*`` keys ``STATE`` and ``action*`` keys ``ACTION``; bookkeeping
    columns (index, timestamp, ...) are left out.
    """
    out: dict[str, PolicyFeature] = {}
    for key, ft in features.items():
        shape = tuple(ft["shape"])
        if ft.get("dtype") in ("image", "video"):
            if len(shape) != 3:
                raise ValueError(f"feature {key!r}: an image must have 3 dimensions, got shape {shape}")
            names = ft.get("names") or []
            if len(names) == 3 and names[2] in ("channel", "channels"):
                shape = (shape[2], shape[0], shape[1])
            ftype = FeatureType.VISUAL
        elif key == OBS_ENV_STATE:
            ftype = FeatureType.ENV
        elif key.startswith(OBS_STR):
            ftype = FeatureType.STATE
        elif key.startswith(ACTION):
            ftype = FeatureType.ACTION
        else:
            continue
        out[key] = PolicyFeature(type=ftype, shape=shape)
    return out
