"""Suite-wide fixtures and the CI rule that nothing may be skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("LEROBOT_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (override with LEROBOT_SHARED_DIR); missing is an error, never a skip."""
    path = _shared_dir()
    if not (path / "fixtures" / "upstream_lerobot").is_dir():
        pytest.fail(f"shared fixtures not found at {path}: clone beside ../shared or set LEROBOT_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def upstream_fixtures(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "upstream_lerobot"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test means a missing install step: fail the run instead of hiding it."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"CI: {skipped} test(s) skipped; every dependency must be installed in CI", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
