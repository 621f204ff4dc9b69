"""The probes' routes: liveness answers without a token or a database; readiness only while
PostgreSQL answers."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from api.app import ApiConfig, create_app
from api.auth import TokenVerifier
from oversight.service import Oversight
from tests.fixtures import identity
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration


def test_health_and_ready_need_no_token(api: Api) -> None:
    assert api.client.get("/api/health").json() == {"status": "ok"}
    r = api.client.get("/api/ready")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_not_ready_without_the_database_and_nothing_leaks() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = f"postgresql://aiguilleur:hunter2@127.0.0.1:{port}/aiguilleur?connect_timeout=2"
    verifier = TokenVerifier(identity.ISSUER, identity.AUDIENCE, identity.jwks(), "roles")
    app = create_app(Oversight(dsn, []), verifier, ApiConfig({}))
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
        r = client.get("/api/ready")
    assert r.status_code == 503
    assert "hunter2" not in r.text
    assert str(port) not in r.text
