"""Processor pipelines between data and policies (upstream LeRobot's processor API and file format)."""

from lerobot_core.processor.core import (
    EnvTransition,
    TransitionKey,
    batch_to_transition,
    create_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)
from lerobot_core.processor.features import (
    FeatureType,
    NormalizationMode,
    PolicyFeature,
    dataset_to_policy_features,
)
from lerobot_core.processor.normalize import NormalizerProcessorStep, UnnormalizerProcessorStep
from lerobot_core.processor.pipeline import (
    DataProcessorPipeline,
    PolicyProcessorPipeline,
    ProcessorStep,
    ProcessorStepRegistry,
)
from lerobot_core.processor.steps import (
    AddBatchDimensionProcessorStep,
    DeviceProcessorStep,
    RenameObservationsProcessorStep,
)

__all__ = [
    "AddBatchDimensionProcessorStep",
    "DataProcessorPipeline",
    "DeviceProcessorStep",
    "EnvTransition",
    "FeatureType",
    "NormalizationMode",
    "NormalizerProcessorStep",
    "PolicyFeature",
    "PolicyProcessorPipeline",
    "ProcessorStep",
    "ProcessorStepRegistry",
    "RenameObservationsProcessorStep",
    "TransitionKey",
    "UnnormalizerProcessorStep",
    "batch_to_transition",
    "create_transition",
    "dataset_to_policy_features",
    "policy_action_to_transition",
    "transition_to_batch",
    "transition_to_policy_action",
]
