"""schemathesis against the app, in-process: no 5xx, every response as documented.

The app is the real ``create_app`` with a fake bot consuming the gateway, driven
through schemathesis' ASGI client (one shared event loop, on which the app's
lifespan starts the bot). Both positive and negative examples are generated from
``/api/plug/hep/openapi.json``; a valid key is injected and kept current across
the refreshes the fuzzer itself triggers. The number of requests the app served
and the generated cases are counted; the cases must reach :data:`MIN_REQUESTS`
(figures printed with ``-s``; the checks add probe requests, e.g. without the key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from starlette.types import ASGIApp, Receive, Scope, Send

from asgi_app.app import create_app
from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.gateway import Gateway
from asgi_app.keys import KeyManager
from asgi_app.openapi import OPENAPI_PATH, REFRESH_PATH
from asgi_app.routes import Handlers

from .conftest import CHAT, FakeBot, ListSink, make_settings

MIN_REQUESTS = 1000


@dataclass
class FuzzTarget:
    """The app under test plus what the fuzz run needs to know about it."""

    app: ASGIApp
    gateway: Gateway
    keys: list[str]
    sink: ListSink
    statuses: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    cases: int = 0
    bot_task: asyncio.Task[None] | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[-1]}"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        self.requests += 1

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.statuses[message["status"]] = self.statuses.get(message["status"], 0) + 1
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Start the fake bot on the loop schemathesis serves the app from."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.bot_task = asyncio.create_task(FakeBot(self.gateway).run())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.bot_task is not None:
                    self.bot_task.cancel()
                self.gateway.finish_all()  # the next run comes on a new loop; intake stays open
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    app_settings = make_settings(
        hep_wait_timeout="1",
        hep_rate_limit_per_key="0",
        hep_rate_limit_per_sender="0",
    )
    gateway = Gateway(queue_size=10_000, cache_size=10_000, cache_ttl=300, reply_deadline=30)
    keys = KeyManager(platform_id=app_settings.platform_id, state_file=tmp / "k.json", ttl=3600)
    first = keys.ensure("")
    assert first is not None
    issued = [first]
    sink = ListSink()
    handlers = Handlers(
        settings=app_settings,
        gateway=gateway,
        keys=keys,
        audit=AuditTrail(create_audit_logger(sink)),
        on_key_issued=issued.append,
    )
    fuzz = FuzzTarget(create_app(handlers), gateway, issued, sink)
    yield fuzz


@pytest.fixture(scope="module")
def fuzz_schema(target: FuzzTarget) -> Any:
    loaded = schemathesis.openapi.from_asgi(OPENAPI_PATH, target)
    loaded.config.generation.update(deterministic=True, database="none")
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]  # too large is a refusal
    return loaded


FUZZ_PLAN = [
    # (path, method, mode, examples): the chat endpoint is where client input goes.
    (CHAT, "POST", GenerationMode.POSITIVE, 600),
    (CHAT, "POST", GenerationMode.NEGATIVE, 600),
    (REFRESH_PATH, "GET", GenerationMode.POSITIVE, 25),
    (REFRESH_PATH, "POST", GenerationMode.POSITIVE, 25),
    (OPENAPI_PATH, "GET", GenerationMode.POSITIVE, 25),
]


@pytest.mark.parametrize(("path", "method", "mode", "examples"), FUZZ_PLAN)
def test_the_app_survives_fuzzing_and_answers_as_documented(
    fuzz_schema: Any, target: FuzzTarget, path: str, method: str, mode: str, examples: int
) -> None:
    """We expect no 5xx and every response to match the document (all default checks).

    Positive cases must be accepted, negative ones (bodies that break the schema)
    refused with a documented 4xx.
    """
    operation = fuzz_schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        target.cases += 1
        case.call_and_validate(headers=target.auth)

    run()


@pytest.mark.parametrize(("path", "method"), sorted({(p, m) for p, m, _, _ in FUZZ_PLAN}))
def test_the_boundary_cases_of_every_operation_answer_as_documented(
    fuzz_schema: Any, target: FuzzTarget, path: str, method: str
) -> None:
    """schemathesis' coverage phase: each limit ±1, missing fields, wrong types, other methods."""
    operation = fuzz_schema[path][method]
    cases = fuzz_schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=fuzz_schema.config.generation,
    )
    for case in cases:
        target.cases += 1
        case.call_and_validate(headers=target.auth)


def test_the_fuzz_run_was_big_enough_and_never_failed_internally(target: FuzzTarget) -> None:
    """Runs last in this module: the figures of the whole run (printed with ``-s``)."""
    if target.cases == 0:
        pytest.skip("run together with the fuzz tests above")
    statuses = dict(sorted(target.statuses.items()))
    print(f"\nschemathesis: {target.cases} generated cases, {target.requests} requests served")
    print(f"schemathesis: statuses {statuses}")
    assert target.cases >= MIN_REQUESTS, f"only {target.cases} requests were generated"
    assert sum(statuses.values()) == target.requests  # every request was answered
    assert not [status for status in statuses if status >= 500]
    assert not target.sink.events("internal_error")
