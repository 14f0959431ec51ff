"""schemathesis: requests generated from the service's own OpenAPI schema, for every operation.
No 5xx, and every response has a documented status, content type and body shape."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.modes import GenerationMode

from rnn_serve.service.app import create_app
from rnn_serve.service.settings import Settings
from tests.support.models import ARTIFACTS

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(model_dir=ARTIFACTS)))
# Bodies and parameters that break the schema too, not only ones that fit it.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema(case):
    case.call_and_validate(checks=CHECKS)
