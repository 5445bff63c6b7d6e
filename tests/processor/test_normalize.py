"""Normalizer / unnormalizer: upstream formulas for every mode, eps handling, round trips, errors."""

from __future__ import annotations

import pytest
import torch

from lerobot_core.processor import (
    FeatureType,
    NormalizationMode,
    NormalizerProcessorStep,
    PolicyFeature,
    UnnormalizerProcessorStep,
    create_transition,
)
from lerobot_core.processor.core import TransitionKey

STATS = {
    "observation.state": {
        "mean": [1.0, -2.0], "std": [2.0, 0.5], "min": [0.0, -3.0], "max": [4.0, -3.0],
        "q01": [0.5, -2.5], "q99": [3.5, 1.5], "q10": [1.0, -2.0], "q90": [3.0, 1.0],
    },
    "action": {"mean": [0.0, 1.0], "std": [1.0, 3.0], "min": [-1.0, 0.0], "max": [1.0, 10.0],
               "q01": [-0.9, 0.1], "q99": [0.9, 9.9], "q10": [-0.5, 1.0], "q90": [0.5, 9.0]},
}
FEATURES = {"observation.state": PolicyFeature(FeatureType.STATE, (2,)),
            "action": PolicyFeature(FeatureType.ACTION, (2,))}


def _expected(x: torch.Tensor, stats: dict, mode: NormalizationMode, eps: float = 1e-8) -> torch.Tensor:
    s = {k: torch.tensor(v) for k, v in stats.items()}
    if mode == NormalizationMode.MEAN_STD:
        return (x - s["mean"]) / (s["std"] + eps)
    lo, hi = {"MIN_MAX": ("min", "max"), "QUANTILES": ("q01", "q99"), "QUANTILE10": ("q10", "q90")}[mode.value]
    d = s[hi] - s[lo]
    d = torch.where(d == 0, torch.tensor(eps), d)
    return 2 * (x - s[lo]) / d - 1


@pytest.mark.parametrize("mode", [m for m in NormalizationMode if m != NormalizationMode.IDENTITY])
def test_formulas_and_round_trip(mode: NormalizationMode) -> None:
    norm_map = {FeatureType.STATE: mode, FeatureType.ACTION: mode}
    norm = NormalizerProcessorStep(features=FEATURES, norm_map=norm_map, stats=STATS)
    unnorm = UnnormalizerProcessorStep(features=FEATURES, norm_map=norm_map, stats=STATS)
    state = torch.tensor([[2.0, -3.0], [0.0, 1.0]])
    action = torch.tensor([[0.5, 4.0]])
    out = norm(create_transition(observation={"observation.state": state}, action=action))
    torch.testing.assert_close(out[TransitionKey.OBSERVATION]["observation.state"],
                               _expected(state, STATS["observation.state"], mode))
    torch.testing.assert_close(out[TransitionKey.ACTION], _expected(action, STATS["action"], mode))
    back = unnorm(create_transition(action=out[TransitionKey.ACTION]))[TransitionKey.ACTION]
    torch.testing.assert_close(back, action, atol=1e-5, rtol=1e-5)


def test_min_max_zero_range_uses_eps() -> None:
    # observation.state[1] has min == max: the denominator becomes eps, so x == min maps to -1.
    norm = NormalizerProcessorStep(features=FEATURES, norm_map={FeatureType.STATE: NormalizationMode.MIN_MAX},
                                   stats=STATS)
    out = norm(create_transition(observation={"observation.state": torch.tensor([4.0, -3.0])}))
    assert out[TransitionKey.OBSERVATION]["observation.state"].tolist() == [1.0, -1.0]


def test_identity_and_unknown_keys_pass_through() -> None:
    norm = NormalizerProcessorStep(features=FEATURES, norm_map={FeatureType.STATE: NormalizationMode.IDENTITY},
                                   stats=STATS)
    state = torch.tensor([5.0, 6.0])
    out = norm(create_transition(observation={"observation.state": state, "observation.other": state},
                                 action=torch.tensor([3.0, 3.0])))
    assert torch.equal(out[TransitionKey.OBSERVATION]["observation.state"], state)
    assert torch.equal(out[TransitionKey.ACTION], torch.tensor([3.0, 3.0]))  # ACTION not in norm_map


def test_missing_stat_is_a_clear_error() -> None:
    norm = NormalizerProcessorStep(features=FEATURES, norm_map={FeatureType.ACTION: NormalizationMode.QUANTILES},
                                   stats={"action": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}})
    with pytest.raises(ValueError, match="q01"):
        norm(create_transition(action=torch.zeros(1, 2)))


def test_visual_stats_broadcast_over_images() -> None:
    feats = {"observation.images.cam": PolicyFeature(FeatureType.VISUAL, (3, 4, 5))}
    stats = {"observation.images.cam": {"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.5, 0.5]}}
    norm = NormalizerProcessorStep(features=feats, norm_map={FeatureType.VISUAL: NormalizationMode.MEAN_STD},
                                   stats=stats)
    img = torch.rand(2, 3, 4, 5)
    out = norm(create_transition(observation={"observation.images.cam": img}))
    expected = (img - torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1)) / (0.5 + 1e-8)
    torch.testing.assert_close(out[TransitionKey.OBSERVATION]["observation.images.cam"], expected)
    assert norm.state_dict()["observation.images.cam.mean"].shape == (3,)  # saved as given


def test_state_dict_round_trip_and_explicit_stats_win() -> None:
    norm_map = {FeatureType.STATE: NormalizationMode.MEAN_STD}
    a = NormalizerProcessorStep(features=FEATURES, norm_map=norm_map, stats=STATS)
    b = NormalizerProcessorStep(features=FEATURES, norm_map=norm_map)
    b.load_state_dict(a.state_dict())
    x = create_transition(observation={"observation.state": torch.tensor([3.0, 1.0])})
    assert torch.equal(a(x)[TransitionKey.OBSERVATION]["observation.state"],
                       b(x)[TransitionKey.OBSERVATION]["observation.state"])
    other = {"observation.state": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}}
    c = NormalizerProcessorStep(features=FEATURES, norm_map=norm_map, stats=other)
    c.load_state_dict(a.state_dict())  # explicitly given stats are kept, as upstream
    torch.testing.assert_close(c(x)[TransitionKey.OBSERVATION]["observation.state"], torch.tensor([3.0, 1.0]))


def test_float64_input_keeps_dtype() -> None:
    norm = NormalizerProcessorStep(features=FEATURES, norm_map={FeatureType.STATE: NormalizationMode.MEAN_STD},
                                   stats=STATS)
    out = norm(create_transition(observation={"observation.state": torch.tensor([1.0, 1.0], dtype=torch.float64)}))
    assert out[TransitionKey.OBSERVATION]["observation.state"].dtype == torch.float64
