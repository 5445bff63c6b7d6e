"""Runtime fixtures: an in-process Zenoh router on a free loopback port and Zenoh contexts with deterministic ids.

- ``zenoh_router`` (session scope): the router's endpoint, e.g. ``tcp/127.0.0.1:40123``.
- ``router_env``: environment for subprocesses (``ZENOH_CONFIG_OVERRIDE`` pointing at the router, no router wait).
- ``make_context(zid=None, domain_id=0)``: a :class:`ZenohContext` connected to the router; ids are
  deterministic (``a000...01``, ``a000...02``, ... unless given); all are closed after the test.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator

import pytest
from helpers.zenoh_router import open_router
from lerobot_ros.runtime.spin import reset_shutdown
from lerobot_ros.runtime.zenoh_backend import ZenohContext

_ids = itertools.count(1)


def next_session_id() -> str:
    return f"a{next(_ids):031x}"


@pytest.fixture(scope="session")
def zenoh_router() -> Iterator[str]:
    with open_router() as endpoint:
        yield endpoint


def peer_overrides(endpoint: str, zid: str | None = None) -> dict[str, str]:
    overrides = {"connect/endpoints": json.dumps([endpoint]), "listen/endpoints": '["tcp/127.0.0.1:0"]'}
    if zid:
        overrides["id"] = zid
    return overrides


@pytest.fixture
def router_env(zenoh_router: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ZENOH_CONFIG_OVERRIDE"] = (f'connect/endpoints=["{zenoh_router}"];listen/endpoints=["tcp/127.0.0.1:0"]')
    env["ZENOH_ROUTER_CHECK_ATTEMPTS"] = "5"
    env["LEROBOT_ROS_BACKEND"] = "zenoh"
    return env


@pytest.fixture
def make_context(zenoh_router: str) -> Iterator[Callable[..., ZenohContext]]:
    contexts: list[ZenohContext] = []

    def factory(zid: str | None = None, domain_id: int = 0, **kwargs) -> ZenohContext:
        ctx = ZenohContext(overrides=peer_overrides(zenoh_router, zid or next_session_id()), domain_id=domain_id,
                           router_check_attempts=5, **kwargs)
        contexts.append(ctx)
        return ctx

    reset_shutdown()
    yield factory
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def cli_env(zenoh_router, monkeypatch):
    """The graph CLI tools (which open their own session from the environment) pointed at the router."""
    monkeypatch.setenv("ZENOH_CONFIG_OVERRIDE",
                       f'connect/endpoints=["{zenoh_router}"];listen/endpoints=["tcp/127.0.0.1:0"]')
    monkeypatch.setenv("ZENOH_ROUTER_CHECK_ATTEMPTS", "5")
    monkeypatch.delenv("ROS_DOMAIN_ID", raising=False)
