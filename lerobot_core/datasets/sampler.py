"""Frame samplers that respect episode boundaries (upstream LeRobot's ``EpisodeAwareSampler`` family).

Both take the per-episode ``dataset_from_index`` / ``dataset_to_index`` columns of the episode metadata
(``dataset.meta.episodes``) and yield global frame indices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


class EpisodeAwareSampler(torch.utils.data.Sampler[int]):
    """Yield the frames of the selected episodes, optionally dropping frames at each episode's ends.

    Args:
        dataset_from_indices: first global frame index of each episode (inclusive).
        dataset_to_indices: end global frame index of each episode (exclusive).
        episode_indices_to_use: positions (episode indices) in the two lists to keep; ``None`` keeps all.
        drop_n_first_frames / drop_n_last_frames: frames skipped at the start / end of every episode
            (e.g. where a ``delta_timestamps`` window would be mostly padding).
        shuffle: yield a fresh permutation every epoch instead of episode order.
        generator: ``torch.Generator`` driving the permutation. Training passes one seeded with the run seed so
            ``accelerate`` can synchronise it across ranks; ``None`` uses the global torch RNG.
        seed: convenience for ``generator=torch.Generator().manual_seed(seed)`` (ignored if ``generator`` given).
    """

    def __init__(
        self,
        dataset_from_indices: Sequence[int],
        dataset_to_indices: Sequence[int],
        episode_indices_to_use: Sequence[int] | None = None,
        drop_n_first_frames: int = 0,
        drop_n_last_frames: int = 0,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        *,
        seed: int | None = None,
    ):
        from_idx = [int(i) for i in dataset_from_indices]
        to_idx = [int(i) for i in dataset_to_indices]
        if len(from_idx) != len(to_idx):
            raise ValueError(
                f"dataset_from_indices has {len(from_idx)} episodes but dataset_to_indices has {len(to_idx)}; "
                "pass both columns of the same episode table."
            )
        if drop_n_first_frames < 0 or drop_n_last_frames < 0:
            raise ValueError(
                f"drop_n_first_frames and drop_n_last_frames must be >= 0, got {drop_n_first_frames} and "
                f"{drop_n_last_frames}."
            )
        keep = None if episode_indices_to_use is None else {int(e) for e in episode_indices_to_use}
        indices: list[int] = []
        for episode, (start, end) in enumerate(zip(from_idx, to_idx)):
            if keep is None or episode in keep:
                indices.extend(range(start + drop_n_first_frames, end - drop_n_last_frames))
        self.indices = indices
        self.shuffle = shuffle
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(seed)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            for i in torch.randperm(len(self.indices), generator=self.generator).tolist():
                yield self.indices[i]
        else:
            yield from self.indices

    def __len__(self) -> int:
        return len(self.indices)


class WeightedEpisodeAwareSampler(EpisodeAwareSampler):
    """Sample frames with replacement, proportionally to ``frame_weights[global_index]``.

    The candidate frames are chosen exactly like :class:`EpisodeAwareSampler` (episodes, dropped ends); an
    epoch has as many draws as candidates and every epoch draws again. All-zero weights over the candidates
    fall back to uniform sampling.
    """

    def __init__(
        self,
        dataset_from_indices: Sequence[int],
        dataset_to_indices: Sequence[int],
        frame_weights: Sequence[float] | torch.Tensor,
        *,
        episode_indices_to_use: Sequence[int] | None = None,
        drop_n_first_frames: int = 0,
        drop_n_last_frames: int = 0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ):
        super().__init__(
            dataset_from_indices,
            dataset_to_indices,
            episode_indices_to_use=episode_indices_to_use,
            drop_n_first_frames=drop_n_first_frames,
            drop_n_last_frames=drop_n_last_frames,
            shuffle=False,
            generator=generator,
            seed=seed,
        )
        weights = torch.as_tensor(frame_weights, dtype=torch.float64).flatten()
        needed = max(self.indices) + 1 if self.indices else 0
        if weights.numel() < needed:
            raise ValueError(
                f"frame_weights has {weights.numel()} entries but the sampled frames reach global index "
                f"{needed - 1}; pass one weight per dataset frame (length >= {needed})."
            )
        if not torch.isfinite(weights).all():
            raise ValueError("frame_weights contains NaN or infinite values; weights must be finite and >= 0.")
        if (weights < 0).any():
            raise ValueError("frame_weights contains negative values; weights must be finite and >= 0.")
        selected = weights[torch.as_tensor(self.indices, dtype=torch.long)] if self.indices else weights[:0]
        if selected.numel() and selected.sum() <= 0:
            selected = torch.ones_like(selected)
        self.weights = selected

    def __iter__(self) -> Iterator[int]:
        if not self.indices:
            return
        draws = torch.multinomial(self.weights, len(self.indices), replacement=True, generator=self.generator)
        for i in draws.tolist():
            yield self.indices[i]
