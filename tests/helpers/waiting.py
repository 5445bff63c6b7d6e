"""Polling until a condition holds, for tests that wait on other threads or processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, every: Callable[[], Any] | None = None,
             interval: float = 0.01) -> bool:
    """True as soon as ``predicate()`` holds (calling ``every()`` before each check), False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if every is not None:
            every()
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
