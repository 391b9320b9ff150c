"""Property-based tests against the service's own OpenAPI schema (schemathesis + hypothesis):
whatever request is generated, valid or not, the answer is never a 5xx and matches the documented
status codes, content type and response schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from crps_qa.api import create_app
from crps_qa.index.build import build
from crps_qa.pipeline import Pipeline


@pytest.fixture
def api_schema(tiny_settings, fake_embedder):
    build(tiny_settings, fake_embedder)
    app = create_app(tiny_settings, pipeline_factory=lambda s: Pipeline.open(s, embedder=fake_embedder))
    app.state.service.refresh()  # what the lifespan does; schemathesis calls the app without running it
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# schemathesis.pytest.from_fixture does not work under pytest 9, so hypothesis drives the
# schema's strategy (every operation) directly.
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_request_gets_a_server_error_or_an_undocumented_answer(api_schema, mode):
    @given(case=api_schema.as_strategy(generation_mode=mode))
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate()

    check()
