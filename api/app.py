"""The operator API (FastAPI) and the page it serves.

Every ``/api`` route needs a bearer token (``api.auth``); every commune route checks the caller's
role in that commune, so one commune neither sees nor decides on another's junctions. The lifecycle
itself is :class:`oversight.service.Oversight`'s; this module maps HTTP onto it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from api import views
from api.auth import Permission, Principal, TokenVerifier, Unauthenticated
from audit import chain
from audit import store as audit_store
from graph.model import Network
from optimizer.errors import InvalidEnvelope
from oversight import envelopes
from oversight.errors import InvalidEdit, NotPending, Suspended, UnknownRecommendation
from oversight.lifecycle import AutoApproval
from oversight.service import ENVELOPE, Oversight, Recommendation
from streams.events import Suspension

WEB = Path(__file__).resolve().parent / "web"
log = logging.getLogger("aiguilleur.api")


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """What the routes need besides the lifecycle."""

    networks: Mapping[str, Network]
    """Commune id -> its network model (names and map)."""
    verify_key_file: Path | None = None
    """Public (or private) checkpoint key, for ``/api/audit/verify``."""
    max_checkpoint_age_s: float = 180.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class Decide(BaseModel):
    """Body of an approval or a rejection."""

    reason: str = Field(default="", max_length=2000)


class Modify(Decide):
    """An approval of an edited plan: the cycle and each phase's green."""

    cycle_s: int = Field(ge=1, le=600)
    greens_s: list[int] = Field(min_length=1, max_length=64)


class Stop(BaseModel):
    """Body of a suspension."""

    scope: Literal["junction", "zone", "commune"]
    target: str = Field(default="", max_length=128)
    recommendations: bool = True
    control: bool = True
    reason: str = Field(default="", max_length=2000)


class Policy(BaseModel):
    """Body of an auto-approval policy."""

    max_cycle_step_s: int = Field(ge=0, le=60)
    max_green_step_s: int = Field(ge=0, le=60)
    hours: tuple[int, int] = (0, 24)
    timezone: str = "Europe/Paris"
    max_degree_of_saturation: float = Field(default=0.9, gt=0, le=3.0)


def _service(request: Request) -> Oversight:
    service: Oversight = request.app.state.service
    return service


def _config(request: Request) -> ApiConfig:
    config: ApiConfig = request.app.state.config
    return config


def principal(request: Request) -> Principal:
    """The caller, from the bearer token (401 without a valid one)."""
    verifier: TokenVerifier = request.app.state.verifier
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        return verifier.verify(header[7:].strip())
    except Unauthenticated as e:
        raise HTTPException(
            401, f"invalid token: {e}", headers={"WWW-Authenticate": "Bearer"}
        ) from e


Caller = Annotated[Principal, Depends(principal)]
Service = Annotated[Oversight, Depends(_service)]
Config = Annotated[ApiConfig, Depends(_config)]
router = APIRouter(prefix="/api")


def allowed(service: Oversight, who: Principal, permission: Permission, commune: str) -> None:
    """404 for an unknown commune, 403 when the caller's roles there do not allow it."""
    if commune not in service.communes:
        raise HTTPException(404, f"no commune {commune!r} here")
    if not who.may(permission, commune):
        raise HTTPException(
            403, f"{who.subject} may not {_ACTS[permission]} in commune {commune!r}"
        )


_ACTS: dict[Permission, str] = {
    "read": "read",
    "decide": "decide",
    "suspend": "suspend or resume",
    "policy": "set auto-approval policies",
    "audit": "verify the audit trail",
}


def create_app(service: Oversight, verifier: TokenVerifier, config: ApiConfig) -> FastAPI:
    """The API with its routes and the operator page."""
    app = FastAPI(title="aiguilleur operator API", version="1", docs_url="/api/docs")
    app.state.service = service
    app.state.verifier = verifier
    app.state.config = config
    for error, status in (
        (UnknownRecommendation, 404),
        (NotPending, 409),
        (Suspended, 409),
        (InvalidEdit, 422),
    ):
        app.add_exception_handler(error, _handler(status))
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get("/api/health", include_in_schema=False)
    def health() -> dict[str, str]:
        """Liveness: the process serves requests (no token, no database)."""
        return {"status": "ok"}

    @app.get("/api/ready", include_in_schema=False)
    def ready() -> JSONResponse:
        """Readiness: the database answers (no token)."""
        try:
            with service.connect() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as e:
            # unauthenticated: the reason goes to the log, not to the caller
            log.warning("event=not_ready reason=%r", str(e))
            return JSONResponse({"status": "database unreachable"}, 503)
        return JSONResponse({"status": "ok"})

    return app


def _handler(status: int) -> Any:
    async def handle(_r: Request, e: Exception) -> JSONResponse:
        content: dict[str, Any] = {"detail": str(e)}
        if isinstance(e, InvalidEdit):
            content["problems"] = e.problems
        return JSONResponse(content, status_code=status)

    return handle


def _json(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(_encode(value))
    return out


@router.get("/me")
def me(who: Caller, service: Service) -> dict[str, Any]:
    """The caller and their roles in each commune they may read."""
    known = sorted(service.communes)
    return {
        "subject": who.subject,
        "name": who.name,
        "communes": [
            {
                "id": c,
                "name": service.communes[c].name or c,
                "roles": sorted(who.roles.get(c, frozenset()) | who.roles.get("*", frozenset())),
            }
            for c in who.communes(known)
        ],
    }


Kind = Literal["signal-plan", "signal-envelope"]


@router.get("/communes/{commune}/recommendations")
def recommendations(
    commune: str,
    who: Caller,
    service: Service,
    config: Config,
    status: str = "proposed",
    kind: Kind = "signal-plan",
) -> list[dict[str, Any]]:
    """Pending recommendations of a kind (signal plans by default), with their explanation and
    what changes against what is active."""
    allowed(service, who, "read", commune)
    if status != "proposed":
        raise HTTPException(400, "status: only 'proposed' is listed; see a junction's history")
    return [_view(service, config, commune, r) for r in service.pending(commune, kind)]


def _view(service: Oversight, config: ApiConfig, commune: str, r: Recommendation) -> dict[str, Any]:
    net = config.networks[commune]
    if r.kind == ENVELOPE:
        return views.envelope_recommendation(
            r, net, service.active_envelopes(commune).get(r.subject_id)
        )
    return views.recommendation(r, net, service.active(commune).get(r.subject_id))


@router.get("/communes/{commune}/recommendations/{rid}")
def recommendation(
    commune: str, rid: str, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """One recommendation, whatever its kind and status."""
    allowed(service, who, "read", commune)
    return _view(service, config, commune, service.get(commune, rid))


@router.post("/communes/{commune}/recommendations/{rid}/approve")
def approve(
    commune: str, rid: str, body: Decide, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """Approve as proposed: the plan becomes the junction's active plan."""
    allowed(service, who, "decide", commune)
    return _json(service.decide(commune, rid, "approved", who.subject, config.clock(), body.reason))


@router.post("/communes/{commune}/recommendations/{rid}/modify")
def modify(
    commune: str, rid: str, body: Modify, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """Approve an edited plan (it must pass the same checks as a computed one)."""
    allowed(service, who, "decide", commune)
    edit = (body.cycle_s, body.greens_s)
    d = service.decide(
        commune, rid, "approved", who.subject, config.clock(), body.reason, edit=edit
    )
    return _json(d)


@router.post("/communes/{commune}/recommendations/{rid}/reject")
def reject(
    commune: str, rid: str, body: Decide, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """Reject, with a reason."""
    allowed(service, who, "decide", commune)
    if not body.reason.strip():
        raise HTTPException(422, "a rejection needs a reason, for the record")
    return _json(service.decide(commune, rid, "rejected", who.subject, config.clock(), body.reason))


class ProposeEnvelopes(BaseModel):
    """Envelopes to propose from the commune's network model: its phases in order, their minimum
    and maximum greens and intergreens, these cycle bounds."""

    junctions: list[str] | None = Field(
        default=None, max_length=10_000, description="Junction ids; default: every junction."
    )
    cycle_min_s: float | None = Field(
        default=None,
        gt=0,
        le=600,
        description="Shortest cycle allowed (s); default: none beyond what the minimum greens "
        "and intergreens impose (a phase-by-phase controller has no cycle to keep long).",
    )
    cycle_max_s: float = Field(default=120.0, gt=0, le=600)
    may_skip_phases: bool = True
    note: str = Field(default="", max_length=2000)
    valid_for_s: int = Field(default=envelopes.DEFAULT_VALID_S, ge=60, le=7 * 24 * 3600)


@router.post("/communes/{commune}/envelopes/proposals")
def propose_envelopes(
    commune: str, body: ProposeEnvelopes, who: Caller, service: Service, config: Config
) -> list[dict[str, Any]]:
    """Propose live-control envelopes; each waits for an operator's approval like a plan."""
    allowed(service, who, "decide", commune)
    net = config.networks[commune]
    known = {j.id: j for j in net.junctions}
    ids = list(known) if body.junctions is None else body.junctions
    missing = [j for j in ids if j not in known]
    if missing:
        raise HTTPException(404, f"junction(s) {', '.join(missing[:10])} not in {commune!r}")
    now = config.clock()
    try:
        proposals = [
            envelopes.propose(
                known[j],
                network_sha256=net.source_sha256,
                proposed_by=who.subject,
                now=now,
                cycle_min_s=body.cycle_min_s,
                cycle_max_s=body.cycle_max_s,
                may_skip_phases=body.may_skip_phases,
                note=body.note,
                valid_s=body.valid_for_s,
            )
            for j in ids
        ]
    except InvalidEnvelope as e:
        raise HTTPException(422, str(e)) from e
    return [
        _view(service, config, commune, service.propose_envelope(commune, p)) for p in proposals
    ]


@router.get("/communes/{commune}/envelopes")
def active_envelopes(
    commune: str, who: Caller, service: Service, config: Config
) -> list[dict[str, Any]]:
    """The approved envelope of each junction that has one: what the control stage follows."""
    allowed(service, who, "read", commune)
    net = config.networks[commune]
    return [
        views.envelope_view(e, net) for _, e in sorted(service.active_envelopes(commune).items())
    ]


@router.delete("/communes/{commune}/envelopes/{junction_id}")
def withdraw_envelope(
    commune: str, junction_id: str, who: Caller, service: Service, config: Config, reason: str = ""
) -> dict[str, str]:
    """Withdraw a junction's approved envelope: it gets no live decision any more."""
    allowed(service, who, "decide", commune)
    if not service.withdraw_envelope(commune, junction_id, who.subject, config.clock(), reason):
        raise HTTPException(404, f"junction {junction_id!r} has no approved envelope")
    return {"withdrawn": junction_id}


@router.get("/communes/{commune}/active")
def active(commune: str, who: Caller, service: Service, config: Config) -> list[dict[str, Any]]:
    """The active (approved) plan of each junction that has one."""
    allowed(service, who, "read", commune)
    net = config.networks[commune]
    return [views.active_view(a, net) for _, a in sorted(service.active(commune).items())]


@router.get("/communes/{commune}/junctions/{junction_id}/history")
def history(
    commune: str, junction_id: str, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """A junction's recommendations and their records on the audit trail."""
    allowed(service, who, "read", commune)
    recs = service.recent(commune, junction_id)
    with service.connect() as conn:
        trail = audit_store.history(conn, commune, [r.id for r in recs])
    return {
        "junction_id": junction_id,
        "junction": views.junction_label(
            _junction(config.networks[commune], junction_id), junction_id
        ),
        "recommendations": [
            {
                "id": r.id,
                "status": r.status,
                "proposed_at": r.proposed_at.isoformat(),
                "kind": r.kind,
                "cycle_s": r.plan.cycle_s if r.kind != ENVELOPE else None,
                "decision": None if r.decision is None else _json(r.decision),
            }
            for r in recs
        ],
        "trail": [_trail_summary(s) for s in trail],
    }


@router.get("/communes/{commune}/junctions/{junction_id}/map")
def junction_map(
    commune: str, junction_id: str, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """The streets around a junction from the city's OSM data (no tile server)."""
    allowed(service, who, "read", commune)
    try:
        return views.map_around(config.networks[commune], junction_id)
    except KeyError as e:
        raise HTTPException(404, f"no junction {junction_id!r} in {commune!r}") from e


@router.get("/communes/{commune}/suspensions")
def suspensions(commune: str, who: Caller, service: Service) -> list[dict[str, Any]]:
    """The stops in force."""
    allowed(service, who, "read", commune)
    return [_json(s) for s in service.suspensions(commune)]


@router.post("/communes/{commune}/suspensions")
def suspend(
    commune: str, body: Stop, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """Stop recommendations and/or live control for a junction, a zone or the commune."""
    allowed(service, who, "suspend", commune)
    target = commune if body.scope == "commune" else body.target
    if not target:
        raise HTTPException(422, f"target: name the {body.scope} to suspend")
    event = Suspension(
        scope=body.scope,
        target=target,
        commune=commune,
        recommendations=body.recommendations,
        control=body.control,
        suspended_by=who.subject,
        suspended_at=config.clock(),
        reason=body.reason,
    )
    service.suspend(commune, event)
    return _json(event)


@router.delete("/communes/{commune}/suspensions/{scope}/{target}")
def resume(
    commune: str, scope: str, target: str, who: Caller, service: Service, config: Config
) -> dict[str, Any]:
    """Lift a stop."""
    allowed(service, who, "suspend", commune)
    if not service.resume(commune, scope, target, who.subject, config.clock()):
        raise HTTPException(404, f"{scope} {target} is not suspended")
    return {"resumed": f"{scope}:{target}"}


@router.get("/communes/{commune}/policies")
def policies(commune: str, who: Caller, service: Service) -> list[dict[str, Any]]:
    """The auto-approval policies in force."""
    allowed(service, who, "read", commune)
    return [_json(p) for p in service.policies(commune)]


@router.put("/communes/{commune}/policies/{scope}/{target}")
def set_policy(
    commune: str,
    scope: Literal["junction", "zone"],
    target: str,
    body: Policy,
    who: Caller,
    service: Service,
    config: Config,
) -> dict[str, Any]:
    """Set an auto-approval policy (administrators only)."""
    allowed(service, who, "policy", commune)
    policy = AutoApproval(scope=scope, target=target, **body.model_dump())
    service.set_policy(commune, policy, scope, target, who.subject, config.clock())
    return _json(policy)


@router.delete("/communes/{commune}/policies/{scope}/{target}")
def drop_policy(
    commune: str, scope: str, target: str, who: Caller, service: Service, config: Config
) -> dict[str, str]:
    """Remove an auto-approval policy (administrators only)."""
    allowed(service, who, "policy", commune)
    service.set_policy(commune, None, scope, target, who.subject, config.clock())
    return {"removed": f"{scope}:{target}"}


@router.get("/audit/verify")
def verify(who: Caller, service: Service, config: Config) -> dict[str, Any]:
    """Check the whole audit trail (auditors and administrators)."""
    if not any(who.may("audit", c) for c in service.communes):
        raise HTTPException(403, f"{who.subject} is not an auditor")
    from audit import signing

    key = signing.load_public(config.verify_key_file) if config.verify_key_file else None
    with service.connect() as conn:
        report = chain.verify(
            audit_store.rows(conn),
            key,
            now=config.clock(),
            max_checkpoint_age=timedelta(seconds=config.max_checkpoint_age_s),
        )
    return {
        "ok": report.ok,
        "records": report.records,
        "checkpoints": report.checkpoints,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "first_bad": None
        if report.problem is None
        else {"seq": report.problem.seq, "reason": report.problem.reason},
    }


def _encode(value: Any) -> bytes:
    import msgspec

    return msgspec.json.encode(value)


def _junction(network: Network, junction_id: str) -> Any:
    try:
        return network.junction(junction_id)
    except KeyError:
        return None


def _trail_summary(s: chain.Stored) -> dict[str, Any]:
    rec = json.loads(s.text)
    body = rec.get("body", {})
    decision = body.get("decision") or {}
    return {
        "seq": rec["seq"],
        "at": rec["at"],
        "kind": rec["kind"],
        "actor": rec["actor"],
        "subject": rec["subject"],
        "status": decision.get("status"),
        "reason": decision.get("reason") or body.get("reason"),
        "auto": decision.get("auto", False),
        "hash": s.hash,
    }
