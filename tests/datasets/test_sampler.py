"""EpisodeAwareSampler / WeightedEpisodeAwareSampler: episode filtering, drops, seeded determinism."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from lerobot_core.datasets.sampler import EpisodeAwareSampler, WeightedEpisodeAwareSampler

FROM, TO = [0, 10, 25], [10, 25, 30]  # three episodes of 10, 15 and 5 frames


def test_sequential_with_episode_selection_and_drops():
    assert list(EpisodeAwareSampler(FROM, TO)) == list(range(30))
    s = EpisodeAwareSampler(FROM, TO, episode_indices_to_use=[0, 2], drop_n_first_frames=1, drop_n_last_frames=2)
    assert list(s) == [*range(1, 8), *range(26, 28)]
    assert len(s) == 9
    # Dropping more frames than an episode has leaves nothing of it.
    assert list(EpisodeAwareSampler(FROM, TO, drop_n_first_frames=4, drop_n_last_frames=2)) == [
        *range(4, 8), *range(14, 23)
    ]


def test_shuffle_is_a_permutation_and_seeded_generators_agree():
    a = EpisodeAwareSampler(FROM, TO, shuffle=True, generator=torch.Generator().manual_seed(7))
    b = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=7)
    epoch_a1, epoch_a2, epoch_b1 = list(a), list(a), list(b)
    assert sorted(epoch_a1) == list(range(30))
    assert epoch_a1 == epoch_b1  # two "ranks" seeded alike draw the same permutation
    assert epoch_a1 != epoch_a2  # a new permutation each epoch
    assert epoch_a1 != list(range(30))
    assert a.generator is not None and EpisodeAwareSampler(FROM, TO).generator is None


def test_shuffle_without_generator_does_not_depend_on_rank_local_rng():
    s1 = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=3)
    s2 = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=3)
    first = list(s1)
    torch.rand(5)  # rank-asymmetric use of the global RNG must not desync the two samplers
    assert first == list(s2)


def test_rejects_mismatched_columns_and_negative_drops():
    with pytest.raises(ValueError, match="dataset_to_indices has 2"):
        EpisodeAwareSampler(FROM, TO[:2])
    with pytest.raises(ValueError, match="drop_n_first_frames"):
        EpisodeAwareSampler(FROM, TO, drop_n_first_frames=-1)


def test_weighted_sampler_respects_drops_length_and_weights():
    weights = torch.ones(30)
    weights[12] = 1000.0
    s = WeightedEpisodeAwareSampler(FROM, TO, weights, episode_indices_to_use=[1], drop_n_last_frames=3, seed=0)
    draws = list(s)
    assert len(draws) == len(s) == 12
    assert set(draws) <= set(range(10, 22))
    counts = Counter(x for _ in range(20) for x in s)
    assert counts.most_common(1)[0][0] == 12 and counts[12] > 0.9 * sum(counts.values())
    again = WeightedEpisodeAwareSampler(FROM, TO, weights, episode_indices_to_use=[1], drop_n_last_frames=3, seed=0)
    assert list(again) == draws


def test_weighted_sampler_zero_weights_fall_back_to_uniform():
    s = WeightedEpisodeAwareSampler(FROM, TO, torch.zeros(30), seed=1)
    counts = Counter(x for _ in range(40) for x in s)
    assert set(counts) == set(range(30))


@pytest.mark.parametrize(
    ("weights", "match"),
    [(torch.ones(29), "length >= 30"), ([float("nan")] * 30, "finite"), ([-1.0] * 30, "negative")],
)
def test_weighted_sampler_rejects_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        WeightedEpisodeAwareSampler(FROM, TO, weights)


def test_sampler_on_fixture_episode_table(fixture_dataset: Path):
    episodes = pq.read_table(fixture_dataset / "meta/episodes/chunk-000/file-000.parquet")
    s = EpisodeAwareSampler(
        episodes["dataset_from_index"].to_pylist(),
        episodes["dataset_to_index"].to_pylist(),
        episode_indices_to_use=[1],
        drop_n_last_frames=5,
    )
    assert list(s) == list(range(40, 75))
    loader = torch.utils.data.DataLoader(torch.arange(80), batch_size=7, sampler=s)
    assert torch.cat(list(loader)).tolist() == list(range(40, 75))
