"""Transitions: the one dict every processor step reads and writes, and converters from/to flat batches.

A *batch* is the flat dict a dataset or robot produces (``observation.state``, ``action``, ``task``,
``action_is_pad``...). Pipelines wrap it into a transition (observation / action / complementary data), run
their steps and unwrap it again, so steps never need to know the flat key layout.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import torch

from lerobot_core.constants import ACTION, DONE, OBS_STR, REWARD

TRUNCATED = "next.truncated"


class TransitionKey(str, Enum):
    OBSERVATION = "observation"
    ACTION = "action"
    REWARD = "next.reward"
    DONE = "next.done"
    TRUNCATED = "next.truncated"
    INFO = "info"
    COMPLEMENTARY_DATA = "complementary_data"


EnvTransition = dict  # dict[TransitionKey, Any]


def create_transition(
    observation: dict[str, Any] | None = None,
    action: Any = None,
    reward: Any = None,
    done: Any = None,
    truncated: Any = None,
    info: dict[str, Any] | None = None,
    complementary_data: dict[str, Any] | None = None,
) -> EnvTransition:
    return {
        TransitionKey.OBSERVATION: observation,
        TransitionKey.ACTION: action,
        TransitionKey.REWARD: reward,
        TransitionKey.DONE: done,
        TransitionKey.TRUNCATED: truncated,
        TransitionKey.INFO: info,
        TransitionKey.COMPLEMENTARY_DATA: complementary_data,
    }


_SPECIAL = {ACTION: TransitionKey.ACTION, REWARD: TransitionKey.REWARD, DONE: TransitionKey.DONE,
            TRUNCATED: TransitionKey.TRUNCATED, "info": TransitionKey.INFO}


def batch_to_transition(batch: dict[str, Any]) -> EnvTransition:
    """Flat batch → transition. ``observation.*`` keys form the observation; every key that is not an
    observation, action, reward, done, truncated or info goes to complementary data (nothing is dropped)."""
    if not isinstance(batch, dict):
        raise TypeError(f"a policy processor takes a flat dict batch, got {type(batch).__name__}")
    observation: dict[str, Any] = {}
    comp: dict[str, Any] = {}
    transition = create_transition()
    for key, value in batch.items():
        if key.startswith(OBS_STR):
            observation[key] = value
        elif key in _SPECIAL:
            transition[_SPECIAL[key]] = value
        else:
            comp[key] = value
    transition[TransitionKey.OBSERVATION] = observation or None
    transition[TransitionKey.COMPLEMENTARY_DATA] = comp or None
    return transition


def transition_to_batch(transition: EnvTransition) -> dict[str, Any]:
    """Transition → flat batch (keys that are ``None`` in the transition are left out)."""
    batch: dict[str, Any] = {}
    for key, tkey in _SPECIAL.items():
        if transition.get(tkey) is not None:
            batch[key] = transition[tkey]
    batch.update(transition.get(TransitionKey.COMPLEMENTARY_DATA) or {})
    batch.update(transition.get(TransitionKey.OBSERVATION) or {})
    return batch


def policy_action_to_transition(action: torch.Tensor) -> EnvTransition:
    if not isinstance(action, torch.Tensor):
        raise TypeError(f"the postprocessor takes an action tensor, got {type(action).__name__}")
    return create_transition(action=action)


def transition_to_policy_action(transition: EnvTransition) -> torch.Tensor:
    action = transition.get(TransitionKey.ACTION)
    if not isinstance(action, torch.Tensor):
        raise TypeError(f"expected an action tensor after postprocessing, got {type(action).__name__}")
    return action
