"""A subscription callback that stores messages (with receive times) and lets a test wait for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


class Inbox:
    """Messages of one subscription, with waiting helpers that fail the test on timeout."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.times: list[float] = []
        self._cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def _wait_from(self, start: int, predicate: Callable[[Any], bool], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.messages[start:]:
                    if predicate(msg):
                        return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no {what}matching message within {timeout} s ({len(self.messages)} received)")
                self._cond.wait(remaining)

    def wait(self, predicate: Callable[[Any], bool] = lambda m: True, timeout: float = 20.0) -> Any:
        """The first message (old or new) matching ``predicate``."""
        return self._wait_from(0, predicate, timeout, "")

    def wait_new(self, predicate: Callable[[Any], bool] = lambda m: True, timeout: float = 20.0) -> Any:
        """The first message arriving after this call that matches ``predicate``."""
        return self._wait_from(len(self.messages), predicate, timeout, "new ")

    def wait_count(self, n: int, timeout: float = 20.0) -> list[Any]:
        """All messages once ``n`` have arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"{len(self.messages)} of {n} messages within {timeout} s")
                self._cond.wait(remaining)
            return list(self.messages)
