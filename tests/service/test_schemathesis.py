"""Schemathesis over the whole OpenAPI document: no 5xx and no response outside the schema.

Positive and negative cases for every operation, against a live service on SQLite and on
PostgreSQL, with the token of a role that may call it (so most requests get past
authorization).
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from serving import running_service

MIN_REQUESTS = 1000
PER_OPERATION = {GenerationMode.POSITIVE: 36, GenerationMode.NEGATIVE: 16}


def _fuzz(
    url: str, op: Any, mode: GenerationMode, n: int, headers: dict[str, str], failures: list[str]
) -> int:
    """Up to ``n`` generated requests to one operation; returns how many were sent."""
    calls = 0

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: no flaky CI
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=url, headers=headers)
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except Exception as exc:  # collect, then report them all
            failures.append(f"{op.method.upper()} {op.path} ({mode}): {exc}"[:600])

    run()
    return calls


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_thousand_generated_requests_find_no_server_error_and_no_schema_break(
    db_url: str,
) -> None:
    calls = 0
    failures: list[str] = []
    with running_service(db_url) as svc:
        schema = schemathesis.openapi.from_url(f"{svc.url}/openapi.json")
        for result in schema.get_all_operations():
            op = result.ok()
            who = "regulator" if op.path.startswith(("/v1/approvals/", "/v1/audit")) else "operator"
            headers = {"Authorization": f"Bearer {svc.tokens[who]}"}
            for mode, n in PER_OPERATION.items():
                with contextlib.suppress(Unsatisfiable):  # nothing to make negative
                    calls += _fuzz(svc.url, op, mode, n, headers, failures)
    assert not failures, "\n\n".join(failures[:10])
    print(f"schemathesis: {calls} requests")
    assert calls >= MIN_REQUESTS
