"""Session fixtures for end-to-end tests: a fake model and one real AstrBot process.

Everything under ``tests/e2e`` is marked ``e2e``. On a failing test that used the
``astrbot`` fixture, the AstrBot log tail is attached to the report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.harness.astrbot_root import (
    DEFAULT_PLATFORM,
    AstrBotProcess,
    FakeLLMProcess,
    running_astrbot,
)

_E2E_DIR = Path(__file__).resolve().parent
_LOG_TAIL_LINES = 120

JWT_SECRET = "hep-e2e-dashboard-jwt-secret-for-tests-only-0f3a9c"
"""Fixed, so tests can check that the plugin never signs anything with it."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)
    # Scans of what the whole session left behind (e.g. the audit file) go last.
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _E2E_DIR in Path(item.path).resolve().parents:
        funcargs = getattr(item, "funcargs", {})
        proc = funcargs.get("astrbot")
        if isinstance(proc, AstrBotProcess):
            report.sections.append(
                (f"AstrBot log tail ({proc.log_path})", proc.log_tail(_LOG_TAIL_LINES))
            )
    return report


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMProcess]:
    """The deterministic fake model (``tests.fakes.fake_llm``) on a free port."""
    with FakeLLMProcess() as fake:
        yield fake


@pytest.fixture(scope="session")
def astrbot(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMProcess
) -> Iterator[AstrBotProcess]:
    """One AstrBot for the session: fake model, ``http_endpoint`` platform enabled,
    our plugin installed from the repo, fixed ``jwt_secret``. Ready when yielded."""
    with running_astrbot(
        tmp_path_factory.mktemp("astrbot-root"),
        llm_base_url=fake_llm.base_url,
        platform=dict(DEFAULT_PLATFORM),
        jwt_secret=JWT_SECRET,
    ) as proc:
        yield proc


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    """The dashboard ``jwt_secret`` the ``astrbot`` fixture configured."""
    return JWT_SECRET


@pytest.fixture(scope="session")
def dashboard_token(astrbot: AstrBotProcess) -> str:
    """A real dashboard JWT from ``/api/auth/login`` (logged in once per session)."""
    return astrbot.login()
