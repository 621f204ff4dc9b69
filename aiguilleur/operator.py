"""Wiring of the operator API: the communes and their networks, the lifecycle on PostgreSQL, the
token verifier, the background work; and the audit commands' plumbing (verify, replay)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from fastapi import FastAPI

from aiguilleur.settings import Settings
from aiguilleur.wiring import load_network, streams_config
from api.app import ApiConfig, create_app
from api.auth import TokenVerifier
from audit import chain, signing
from audit import store as audit_store
from graph.model import Network
from oversight.service import Commune, Oversight
from streams.events import PlanInputs
from streams.topics import TopicNames


def communes(settings: Settings) -> tuple[list[Commune], dict[str, Network]]:
    """The communes the API serves and their network models."""
    rows: list[dict[str, Any]]
    if settings.communes_file is not None:
        rows = json.loads(settings.communes_file.read_text())
    else:
        rows = [
            {
                "id": settings.effective_commune,
                "namespace": settings.topic_namespace,
                "network_file": str(settings.network_file),
            }
        ]
    out, nets = [], {}
    for r in rows:
        net = load_network(Path(r["network_file"]), settings.cache_dir)
        nets[r["id"]] = net
        out.append(
            Commune(
                r["id"],
                r.get("namespace", ""),
                {j.id: j for j in net.junctions},
                (settings.cycle_min_s, settings.cycle_max_s),
                r.get("name", r["id"]),
            )
        )
    return out, nets


def dsn(settings: Settings) -> str:
    """The database URL (a ValueError names the variable when it is missing)."""
    if settings.database_url is None:
        raise ValueError(
            "AIGUILLEUR_DATABASE_URL is not set: point it at the PostgreSQL of the API"
        )
    return settings.database_url.get_secret_value()


def verifier(settings: Settings) -> TokenVerifier:
    """The token verifier from the settings' issuer and JWKS."""
    text = settings.oidc_jwks
    if settings.oidc_jwks_file is not None:
        text = settings.oidc_jwks_file.read_text()
    if not text:
        raise ValueError(
            "set AIGUILLEUR_OIDC_JWKS_FILE (or AIGUILLEUR_OIDC_JWKS) to the provider's JWKS"
        )
    return TokenVerifier.from_json(
        settings.oidc_issuer, settings.oidc_audience, text, settings.oidc_roles_claim
    )


def build_api(settings: Settings, *, background: bool = True) -> FastAPI:
    """The API app; with ``background``, its recorder, publisher, expiry and checkpoints run
    while it serves."""
    from aiguilleur.worker import ensure_topics
    from api.runtime import run_background

    cs, nets = communes(settings)
    service = Oversight(dsn(settings), cs)
    service.create_schema()
    key = (
        signing.load_private(settings.audit_signing_key_file)
        if settings.audit_signing_key_file
        else None
    )
    app = create_app(
        service,
        verifier(settings),
        ApiConfig(
            nets,
            verify_key_file=settings.audit_signing_key_file,
            max_checkpoint_age_s=3 * settings.audit_checkpoint_s,
        ),
    )
    now = datetime.now(UTC)
    for c in cs:
        service.log_configuration(
            c.id,
            "api-start",
            {
                "network_sha256": nets[c.id].source_sha256,
                "namespace": c.namespace,
                "oidc_issuer": settings.oidc_issuer,
                "checkpoint_key_id": signing.key_id(key.public_key()) if key else None,
            },
            "aiguilleur",
            now,
        )
    if background:
        cfg = streams_config(settings)

        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            for c in cs:
                await ensure_topics(cfg, TopicNames(c.namespace), control=True)
            task = asyncio.create_task(
                run_background(service, cfg, key, settings.audit_checkpoint_s)
            )
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.router.lifespan_context = lifespan
    return app


def verify_trail(
    settings: Settings, key_file: Path | None, now: datetime | None = None
) -> chain.Report:
    """Verify the whole trail in the database."""
    key = signing.load_public(key_file) if key_file else None
    import psycopg

    with psycopg.connect(dsn(settings)) as conn:
        return chain.verify(
            audit_store.rows(conn),
            key,
            now=now or datetime.now(UTC),
            max_checkpoint_age=timedelta(seconds=3 * settings.audit_checkpoint_s),
        )


@dataclass(frozen=True, slots=True)
class Replayed:
    """A recommendation as published and as recomputed from its logged inputs."""

    plan_id: str
    published: bytes
    recomputed: bytes | None
    inputs_id: str

    @property
    def identical(self) -> bool:
        """Byte for byte."""
        return self.published == self.recomputed


def replay(settings: Settings, plan_id: str) -> Replayed:
    """Recompute a recommendation from the inputs the trail logged for it."""
    import psycopg

    import optimizer.strategy as strategies
    from aiguilleur.wiring import planners_for
    from streams.plan_inputs import compute

    with psycopg.connect(dsn(settings)) as conn:
        rec = json.loads(audit_store.find(conn, "recommendation", plan_id).text)
        published = rec["body"]["plan_json"].encode()
        inputs_id = rec["body"]["inputs_id"]
        inp = json.loads(audit_store.find(conn, "plan-inputs", inputs_id).text)
    inputs = msgspec.json.decode(inp["body"]["inputs_json"], type=PlanInputs)
    network = load_network(settings.network_file, settings.cache_dir)
    if network.source_sha256 != inputs.network_sha256:
        raise ValueError(
            f"the plan was made on network {inputs.network_sha256[:12]}…, "
            f"AIGUILLEUR_NETWORK_FILE={settings.network_file} is {network.source_sha256[:12]}…: "
            "point it at the network file the worker used"
        )
    zone = network.zones().get(inputs.zone_id, ())
    name, zone_planner = planners_for(inputs.planner)
    computed = compute(
        inputs,
        zone,
        network.links,
        None if inputs.zone_planner else strategies.planner(name),
        zone_planner,
    )
    again = next((p for p in computed.plans if p.plan_id == plan_id), None)
    return Replayed(
        plan_id, published, None if again is None else msgspec.json.encode(again), inputs_id
    )
