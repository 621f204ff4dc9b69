"""An operator API on the real PostgreSQL, two communes with the same fixture junction ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import pytest
from fastapi.testclient import TestClient

from api.app import ApiConfig, create_app
from api.auth import TokenVerifier
from graph.model import Network
from optimizer.strategy import planner
from oversight.service import Commune, Oversight
from streams.events import SignalPlan
from streams.planning import PlanningConfig, plan_junction
from streams.zone_state import ZoneState
from tests.fixtures import identity
from tests.unit.streams.test_guarding import BOUNDS, HIGH, LOW, SITES, J, approved, period

MIN = 60_000
NET = Network(source="test", source_sha256="abc", junctions=(J,))
CFG = PlanningConfig(period_s=300, window_s=300, guardrails=BOUNDS)


def plans(n: int, commune: str) -> list[SignalPlan]:
    """``n`` successive plans for junction J (alternating light and heavy traffic), each bounded
    by the guardrails from the one before it."""
    state = ZoneState(zone_id="Z")
    out: list[SignalPlan] = []
    for k in range(1, n + 1):
        period(state, 5 * k * MIN, LOW if k % 2 else HIGH)
        active = approved(out[-1]) if out else None
        p = plan_junction(J, SITES, state, 5 * k * MIN, CFG, planner("webster"), "abc", active)
        out.append(msgspec.structs.replace(p, commune=commune))
    return out


@dataclass
class Clock:
    now: datetime = datetime(1970, 1, 1, 0, 5, 30, tzinfo=UTC)  # inside the first plan's window

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: TestClient
    service: Oversight
    clock: Clock

    def as_(self, sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {identity.token(sub, list(roles))}"}


@pytest.fixture
def api(pg_dsn: str) -> Iterator[Api]:
    communes = [
        Commune("alpha", "alpha", {J.id: J}, name="Alpha"),
        Commune("beta", "beta", {J.id: J}, name="Beta"),
    ]
    service = Oversight(pg_dsn, communes)
    service.create_schema()
    verifier = TokenVerifier(
        identity.ISSUER, identity.AUDIENCE, identity.jwks(), "aiguilleur_roles"
    )
    clock = Clock()
    app = create_app(service, verifier, ApiConfig({"alpha": NET, "beta": NET}, clock=clock))
    with TestClient(app) as client:
        yield Api(client, service, clock)
