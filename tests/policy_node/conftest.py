"""Policy-node fixtures: the in-process Zenoh router and contexts of the node tests, the upstream ACT fixture
(its dataset names the joints), and a factory that starts nodes and closes them after the test."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.zenoh_router import open_router
from lerobot_ros.runtime import Node
from lerobot_ros.runtime.spin import reset_shutdown
from lerobot_ros.runtime.zenoh_backend import ZenohContext

SHARED = Path(os.environ.get("LEROBOT_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared"))
FIXTURES = SHARED / "fixtures" / "upstream_lerobot"
ACT = FIXTURES / "act" / "pretrained_model"
DATASET = FIXTURES / "dataset_v30"

__all__ = ["ACT", "DATASET"]


_ids = itertools.count(1)



@pytest.fixture(scope="session")
def zenoh_router() -> Iterator[str]:
    with open_router() as endpoint:
        yield endpoint


@pytest.fixture
def make_context(zenoh_router: str) -> Iterator[Callable[[], ZenohContext]]:
    contexts: list[ZenohContext] = []

    def factory() -> ZenohContext:
        overrides = {"connect/endpoints": json.dumps([zenoh_router]), "listen/endpoints": '["tcp/127.0.0.1:0"]',
                     "id": f"c{next(_ids):031x}"}
        ctx = ZenohContext(overrides=overrides, router_check_attempts=5)
        contexts.append(ctx)
        return ctx

    reset_shutdown()
    yield factory
    for ctx in contexts:
        ctx.close()


def act_params(**overrides: Any) -> dict[str, Any]:
    """Policy-node parameters for the upstream ACT fixture (trained on degrees, 96×128 front/wrist images)."""
    return {"policy_path": str(ACT), "dataset": str(DATASET), "units": "degrees", "fps": 10.0,
            "estop_service": "", "diagnostics_period_s": 0.2, **overrides}


@pytest.fixture
def started(make_context) -> Iterator[Callable[..., Any]]:
    """``started(factory, name, **params)``: a node on its own context wrapped by ``factory(node)``; closed in
    reverse order after the test (``obj.close()`` or ``obj.stop()`` first, then ``node.destroy()``)."""
    made: list[tuple[Node, Any]] = []

    def start(factory: Callable[[Node], Any] | None, name: str, **params: Any) -> Any:
        node = Node(name, context=make_context(), parameter_overrides=params)
        try:
            obj = factory(node) if factory is not None else node
        except Exception:
            node.destroy()
            raise
        made.append((node, obj))
        return obj

    yield start
    for node, obj in reversed(made):
        for method in ("stop", "close"):
            if obj is not node and hasattr(obj, method) and not hasattr(obj, "sim"):
                getattr(obj, method)()
                break
        if hasattr(obj, "sim"):
            obj.stop()
        node.destroy()
        if hasattr(obj, "sim"):
            obj.sim.close()
