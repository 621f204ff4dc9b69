"""The lifecycle on record: recommendations, decisions, policies and stops in PostgreSQL, each
change in one transaction with its audit record and the Kafka records it publishes (an outbox,
shipped by :func:`api.runtime.publish`). Signal plans and adaptive-control envelopes
(:mod:`oversight.envelopes`) share the lifecycle; its tables are in :mod:`oversight.records`.

A proposal arrives from the plans topic (:meth:`Oversight.propose`): it supersedes the pending
proposals of its junction, goes on the audit trail with its plan's exact JSON, and an
administrator's auto-approval policy may approve it at once. An operator approves (as is or
modified), rejects, suspends or resumes; proposals nobody decided on expire at the end of their
validity window (:meth:`Oversight.expire`). Nothing becomes active without an approval on
record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import msgspec
import psycopg

from audit import store as audit
from oversight import envelopes, lifecycle
from oversight._pool import Pool
from oversight.envelopes import EnvelopeProposal
from oversight.errors import InvalidEdit, NotPending, Suspended, UnknownRecommendation
from oversight.lifecycle import AutoApproval
from oversight.records import (
    ENVELOPE,
    KIND,
    SCHEMA,
    Commune,
    Recommendation,
    active_decoder,
    decision_decoder,
    decision_id,
    decode_payload,
    envelope_decoder,
    plan_decoder,
    policy_decoder,
    proposal_decoder,
    suspension_decoder,
    to_jsonable,
)
from streams.events import (
    ActivePlan,
    PlanInputs,
    RecommendationDecision,
    SignalEnvelope,
    SignalPlan,
    Suspension,
)
from streams.oversight import suspension_key


def _lock_trail(conn: psycopg.Connection[Any]) -> None:
    """Take the audit trail's append lock for the current transaction (held until it ends;
    :func:`audit.store.append` takes it again, which is a no-op then)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (audit.LOCK_ID,))


class Oversight:
    """The lifecycle of every commune's recommendations in one PostgreSQL database."""

    def __init__(self, dsn: str, communes: Sequence[Commune]) -> None:
        self.dsn = dsn
        self.communes = {c.id: c for c in communes}
        self._pool = Pool(dsn)

    def connect(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        """An autocommit connection for a ``with`` block (each change opens its own
        transaction); kept open for the next caller afterwards."""
        return self._pool.connection()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in a transaction that changes the lifecycle. Every such transaction
        appends to the audit trail, whose lock serialises appends; it takes that lock FIRST,
        before any row lock. A proposal locks the junction's pending rows (to supersede them)
        after its append, a decision its row before: each holding what the other waited for,
        PostgreSQL aborted one as a deadlock, and a proposal was lost. One order, no cycle."""
        with self.connect() as conn, conn.transaction():
            _lock_trail(conn)
            yield conn

    def create_schema(self) -> None:
        """Create every table (idempotent)."""
        with self.connect() as conn:
            audit.create_schema(conn)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (audit.LOCK_ID + 1,))
                conn.execute(SCHEMA)

    # --- records from the pipeline --------------------------------------------------------

    def record_inputs(self, commune: str, value: bytes, now: datetime) -> bool:
        """Put a zone period's plan inputs on the trail (once); True when new."""
        inputs = msgspec.json.decode(value, type=PlanInputs)
        with self._writing() as conn:
            new = conn.execute(
                "INSERT INTO plan_inputs_seen VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (commune, inputs.inputs_id),
            ).rowcount
            if not new:
                return False
            audit.append(
                conn,
                at=now,
                kind="plan-inputs",
                commune=commune,
                subject=inputs.inputs_id,
                actor="worker",
                body={"zone_id": inputs.zone_id, "inputs_json": value.decode()},
            )
        return True

    def propose(self, commune: str, value: bytes, now: datetime) -> Recommendation | None:
        """Record a proposal from the plans topic: supersede the junction's pending ones, log
        it, let an auto-approval policy approve it. ``None`` when it was already recorded."""
        plan = plan_decoder.decode(value)
        c = self.communes[commune]
        with self._writing() as conn:
            new = conn.execute(
                "INSERT INTO recommendations (commune, id, kind, subject_id, zone_id, status, "
                "proposed_at, valid_from, valid_until, payload) "
                "VALUES (%s, %s, %s, %s, %s, 'proposed', %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    commune,
                    plan.plan_id,
                    KIND,
                    plan.junction_id,
                    plan.zone_id,
                    now,
                    plan.valid_from,
                    plan.valid_until,
                    value.decode(),
                ),
            ).rowcount
            if not new:
                return None
            audit.append(
                conn,
                at=now,
                kind="recommendation",
                commune=commune,
                subject=plan.plan_id,
                actor="worker",
                body={
                    "recommendation_kind": KIND,
                    "junction_id": plan.junction_id,
                    "zone_id": plan.zone_id,
                    "inputs_id": plan.inputs_id,
                    "inputs_digest": plan.inputs_digest,
                    "model_version": plan.model_version,
                    "plan_json": value.decode(),
                },
            )
            self._supersede(conn, c, KIND, plan.junction_id, plan.plan_id, now)
            self._auto_approve(conn, c, plan, now)
        return self.get(commune, plan.plan_id)

    def propose_envelope(self, commune: str, proposal: EnvelopeProposal) -> Recommendation:
        """Record an envelope proposal (from the network model, asked for by an operator): it
        supersedes the junction's pending envelope proposals and waits for a decision."""
        c = self.communes[commune]
        value = msgspec.json.encode(proposal).decode()
        now = proposal.proposed_at
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO recommendations (commune, id, kind, subject_id, zone_id, status, "
                "proposed_at, valid_from, valid_until, payload) "
                "VALUES (%s, %s, %s, %s, %s, 'proposed', %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    commune,
                    proposal.proposal_id,
                    ENVELOPE,
                    proposal.junction_id,
                    proposal.zone_id,
                    now,
                    now,
                    proposal.valid_until,
                    value,
                ),
            )
            audit.append(
                conn,
                at=now,
                kind="recommendation",
                commune=commune,
                subject=proposal.proposal_id,
                actor=proposal.proposed_by,
                body={
                    "recommendation_kind": ENVELOPE,
                    "junction_id": proposal.junction_id,
                    "zone_id": proposal.zone_id,
                    "network_sha256": proposal.network_sha256,
                    "envelope_json": value,
                },
            )
            self._supersede(conn, c, ENVELOPE, proposal.junction_id, proposal.proposal_id, now)
        return self.get(commune, proposal.proposal_id)

    def _supersede(
        self,
        conn: psycopg.Connection[Any],
        c: Commune,
        kind: str,
        subject_id: str,
        newer_id: str,
        now: datetime,
    ) -> None:
        """A newer proposal of a kind supersedes the pending ones of that kind for the subject."""
        older = conn.execute(
            "SELECT id FROM recommendations WHERE commune = %s AND subject_id = %s AND "
            "kind = %s AND status = 'proposed' AND id <> %s FOR UPDATE",
            (c.id, subject_id, kind, newer_id),
        ).fetchall()
        for (old_id,) in older:
            self._decide(
                conn,
                c,
                old_id,
                "superseded",
                "system",
                now,
                "a newer proposal arrived",
                superseded_by=newer_id,
            )

    def _auto_approve(
        self, conn: psycopg.Connection[Any], c: Commune, plan: SignalPlan, now: datetime
    ) -> None:
        policy = lifecycle.policy_for(self._policies(conn, c.id), plan.junction_id, plan.zone_id)
        if policy is None or self._suspension(conn, c.id, plan.junction_id, plan.zone_id):
            return
        refusal = lifecycle.auto_approval_refusal(
            policy, plan, self._active(conn, c.id, plan.junction_id), now
        )
        if refusal is None:
            self._decide(
                conn,
                c,
                plan.plan_id,
                "approved",
                f"policy:{policy.scope}:{policy.target}",
                now,
                "within the auto-approval policy's bounds",
                auto=True,
            )

    # --- people's decisions ---------------------------------------------------------------

    def decide(
        self,
        commune: str,
        recommendation_id: str,
        status: str,
        by: str,
        now: datetime,
        reason: str = "",
        edit: tuple[int, Sequence[int]] | None = None,
    ) -> RecommendationDecision:
        """Approve (as is, or ``edit`` = (cycle, greens)) or reject a pending recommendation."""
        c = self.communes[commune]
        with self._writing() as conn:
            return self._decide(conn, c, recommendation_id, status, by, now, reason, edit=edit)

    def _decide(
        self,
        conn: psycopg.Connection[Any],
        c: Commune,
        recommendation_id: str,
        status: str,
        by: str,
        now: datetime,
        reason: str,
        *,
        auto: bool = False,
        superseded_by: str = "",
        edit: tuple[int, Sequence[int]] | None = None,
    ) -> RecommendationDecision:
        row = conn.execute(
            "SELECT status, payload, kind FROM recommendations WHERE commune = %s AND id = %s "
            "FOR UPDATE",
            (c.id, recommendation_id),
        ).fetchone()
        if row is None:
            raise UnknownRecommendation(c.id, recommendation_id)
        lifecycle.transition(str(row[0]), status, recommendation_id)
        if row[2] == ENVELOPE:
            return self._decide_envelope(
                conn,
                c,
                proposal_decoder.decode(str(row[1])),
                status,
                by,
                now,
                reason,
                edit=edit,
                superseded_by=superseded_by,
            )
        plan = plan_decoder.decode(str(row[1]))
        approved = plan
        if status == "approved":
            stop = self._suspension(conn, c.id, plan.junction_id, plan.zone_id)
            if stop is not None:
                raise Suspended(f"{stop.scope} {stop.target}", stop.suspended_by)
            if edit is not None:
                junction = c.junctions[plan.junction_id]
                lifecycle.check_edit(plan, edit[0], edit[1], junction, c.cycle_bounds)
                approved = lifecycle.edited(plan, edit[0], edit[1], by)
        decision = RecommendationDecision(
            decision_id=decision_id(c.id, recommendation_id, status),
            commune=c.id,
            kind=KIND,
            recommendation_id=recommendation_id,
            subject_id=plan.junction_id,
            zone_id=plan.zone_id,
            status=status,  # type: ignore[arg-type]  # checked by lifecycle.transition
            decided_by=by,
            decided_at=now,
            reason=reason,
            auto=auto,
            modified=approved is not plan,
            approved_id=approved.plan_id if status == "approved" else "",
            superseded_by=superseded_by,
        )
        body: dict[str, Any] = {"decision": to_jsonable(decision)}
        if approved is not plan:
            body["approved_plan_json"] = msgspec.json.encode(approved).decode()
        encoded = msgspec.json.encode(decision)
        conn.execute(
            "UPDATE recommendations SET status = %s, decision = %s WHERE commune = %s AND id = %s",
            (status, encoded.decode(), c.id, recommendation_id),
        )
        audit.append(
            conn,
            at=now,
            kind="decision",
            commune=c.id,
            subject=recommendation_id,
            actor=by,
            body={**body, "junction_id": plan.junction_id},
        )
        topics = c.topics
        self._outbox(conn, topics.recommendation_decisions, plan.junction_id, encoded)
        if status == "approved":
            active = ActivePlan(
                junction_id=plan.junction_id,
                zone_id=plan.zone_id,
                commune=c.id,
                plan=approved,
                decision_id=decision.decision_id,
                approved_by=by,
                approved_at=now,
                auto=auto,
            )
            value = msgspec.json.encode(active)
            conn.execute(
                "INSERT INTO active_plans VALUES (%s, %s, %s) ON CONFLICT (commune, junction_id) "
                "DO UPDATE SET body = EXCLUDED.body",
                (c.id, plan.junction_id, value.decode()),
            )
            self._outbox(conn, topics.active_plans, plan.junction_id, value)
        return decision

    def _decide_envelope(
        self,
        conn: psycopg.Connection[Any],
        c: Commune,
        proposal: EnvelopeProposal,
        status: str,
        by: str,
        now: datetime,
        reason: str,
        *,
        edit: tuple[int, Sequence[int]] | None,
        superseded_by: str,
    ) -> RecommendationDecision:
        """The decision on an envelope proposal; an approval publishes the envelope the control
        stage follows (compacted envelopes topic, key = junction)."""
        rid = proposal.proposal_id
        event: SignalEnvelope | None = None
        if status == "approved":
            if edit is not None:
                raise InvalidEdit(
                    rid, ["an envelope is approved as proposed: propose another one to change it"]
                )
            stop = self._suspension(conn, c.id, proposal.junction_id, proposal.zone_id, "control")
            if stop is not None:
                raise Suspended(f"live control of {stop.scope} {stop.target}", stop.suspended_by)
            event = envelopes.approved(proposal, c.junctions[proposal.junction_id], by, now)
        decision = RecommendationDecision(
            decision_id=decision_id(c.id, rid, status),
            commune=c.id,
            kind=ENVELOPE,
            recommendation_id=rid,
            subject_id=proposal.junction_id,
            zone_id=proposal.zone_id,
            status=status,  # type: ignore[arg-type]  # checked by lifecycle.transition
            decided_by=by,
            decided_at=now,
            reason=reason,
            approved_id=event.envelope_id if event is not None else "",
            superseded_by=superseded_by,
        )
        encoded = msgspec.json.encode(decision)
        conn.execute(
            "UPDATE recommendations SET status = %s, decision = %s WHERE commune = %s AND id = %s",
            (status, encoded.decode(), c.id, rid),
        )
        body: dict[str, Any] = {
            "decision": to_jsonable(decision),
            "junction_id": proposal.junction_id,
        }
        if event is not None:
            body["approved_envelope_json"] = msgspec.json.encode(event).decode()
        audit.append(conn, at=now, kind="decision", commune=c.id, subject=rid, actor=by, body=body)
        self._outbox(conn, c.topics.recommendation_decisions, proposal.junction_id, encoded)
        if event is not None:
            value = msgspec.json.encode(event)
            conn.execute(
                "INSERT INTO active_envelopes VALUES (%s, %s, %s) ON CONFLICT "
                "(commune, junction_id) DO UPDATE SET body = EXCLUDED.body",
                (c.id, proposal.junction_id, value.decode()),
            )
            self._outbox(conn, c.topics.envelopes, proposal.junction_id, value)
        return decision

    def withdraw_envelope(
        self, commune: str, junction_id: str, by: str, now: datetime, reason: str = ""
    ) -> bool:
        """Withdraw a junction's approved envelope (a tombstone on the envelopes topic): it gets
        no live decision any more. False when it had none."""
        c = self.communes[commune]
        with self._writing() as conn:
            gone = conn.execute(
                "DELETE FROM active_envelopes WHERE commune = %s AND junction_id = %s "
                "RETURNING body",
                (commune, junction_id),
            ).fetchone()
            if gone is None:
                return False
            envelope_id = envelope_decoder.decode(gone[0]).envelope_id
            audit.append(
                conn,
                at=now,
                kind="envelope-withdrawn",
                commune=commune,
                subject=envelope_id,
                actor=by,
                body={"junction_id": junction_id, "envelope_id": envelope_id, "reason": reason},
            )
            self._outbox(conn, c.topics.envelopes, junction_id, None)
        return True

    def expire(self, now: datetime) -> int:
        """Expire every proposal whose validity window has ended; returns how many."""
        n = 0
        with self.connect() as conn:
            due = conn.execute(
                "SELECT commune, id FROM recommendations WHERE status = 'proposed' AND "
                "valid_until <= %s",
                (now,),
            ).fetchall()
            for commune, rid in due:
                if commune not in self.communes:
                    continue
                with conn.transaction():
                    _lock_trail(conn)
                    try:
                        self._decide(
                            conn,
                            self.communes[commune],
                            rid,
                            "expired",
                            "system",
                            now,
                            "nobody decided before the end of its validity window",
                        )
                        n += 1
                    except NotPending:
                        pass  # decided meanwhile
        return n

    def suspend(self, commune: str, event: Suspension) -> None:
        """Record and publish an operator's stop."""
        c = self.communes[commune]
        value = msgspec.json.encode(event)
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO suspensions VALUES (%s, %s, %s, %s) ON CONFLICT "
                "(commune, scope, target) DO UPDATE SET body = EXCLUDED.body",
                (commune, event.scope, event.target, value.decode()),
            )
            audit.append(
                conn,
                at=event.suspended_at,
                kind="suspension",
                commune=commune,
                subject=suspension_key(event.scope, event.target),
                actor=event.suspended_by,
                body={"suspension": to_jsonable(event)},
            )
            self._outbox(
                conn, c.topics.suspensions, suspension_key(event.scope, event.target), value
            )

    def resume(
        self, commune: str, scope: str, target: str, by: str, now: datetime, reason: str = ""
    ) -> bool:
        """Lift a stop; False when there was none."""
        c = self.communes[commune]
        with self._writing() as conn:
            gone = conn.execute(
                "DELETE FROM suspensions WHERE commune = %s AND scope = %s AND target = %s",
                (commune, scope, target),
            ).rowcount
            if not gone:
                return False
            key = suspension_key(scope, target)
            audit.append(
                conn,
                at=now,
                kind="resume",
                commune=commune,
                subject=key,
                actor=by,
                body={"scope": scope, "target": target, "reason": reason},
            )
            self._outbox(conn, c.topics.suspensions, key, None)
        return True

    def set_policy(
        self,
        commune: str,
        policy: AutoApproval | None,
        scope: str,
        target: str,
        by: str,
        now: datetime,
    ) -> None:
        """Set (or remove, with ``None``) an auto-approval policy; logged as a policy change."""
        with self._writing() as conn:
            if policy is None:
                conn.execute(
                    "DELETE FROM policies WHERE commune = %s AND scope = %s AND target = %s",
                    (commune, scope, target),
                )
            else:
                conn.execute(
                    "INSERT INTO policies VALUES (%s, %s, %s, %s) ON CONFLICT "
                    "(commune, scope, target) DO UPDATE SET body = EXCLUDED.body",
                    (commune, scope, target, msgspec.json.encode(policy).decode()),
                )
            audit.append(
                conn,
                at=now,
                kind="policy",
                commune=commune,
                subject=f"{scope}:{target}",
                actor=by,
                body={"policy": None if policy is None else to_jsonable(policy)},
            )

    def log_configuration(
        self, commune: str, what: str, body: dict[str, Any], by: str, now: datetime
    ) -> None:
        """Put a configuration change on the trail (the API's settings at start, say)."""
        with self._writing() as conn:
            audit.append(
                conn,
                at=now,
                kind="configuration",
                commune=commune,
                subject=what,
                actor=by,
                body=body,
            )

    # --- reading --------------------------------------------------------------------------

    def pending(self, commune: str, kind: str = KIND) -> list[Recommendation]:
        """Proposals of a kind awaiting a decision, newest first."""
        return self._select(commune, "status = 'proposed' AND kind = %s", (kind,))

    def recent(self, commune: str, junction_id: str, limit: int = 50) -> list[Recommendation]:
        """The junction's recommendations, newest first."""
        return self._select(commune, "subject_id = %s", (junction_id,), limit)

    def get(self, commune: str, recommendation_id: str) -> Recommendation:
        """One recommendation (``UnknownRecommendation`` when not in this commune)."""
        got = self._select(commune, "id = %s", (recommendation_id,))
        if not got:
            raise UnknownRecommendation(commune, recommendation_id)
        return got[0]

    def _select(
        self, commune: str, where: str, args: tuple[Any, ...], limit: int = 500
    ) -> list[Recommendation]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT id, kind, subject_id, zone_id, status, proposed_at, valid_from, "
                "valid_until, payload, decision FROM recommendations WHERE commune = %s AND "
                + where
                + " ORDER BY proposed_at DESC, id LIMIT %s",
                (commune, *args, limit),
            ).fetchall()
        return [
            Recommendation(
                id=r[0],
                kind=r[1],
                commune=commune,
                subject_id=r[2],
                zone_id=r[3],
                status=r[4],
                proposed_at=r[5],
                valid_from=r[6],
                valid_until=r[7],
                payload=decode_payload(r[1], r[8]),
                decision=None if r[9] is None else decision_decoder.decode(r[9]),
            )
            for r in rows
        ]

    def active(self, commune: str) -> dict[str, ActivePlan]:
        """Junction id -> active plan."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT junction_id, body FROM active_plans WHERE commune = %s", (commune,)
            ).fetchall()
        return {j: active_decoder.decode(b) for j, b in rows}

    def active_envelopes(self, commune: str) -> dict[str, SignalEnvelope]:
        """Junction id -> approved envelope."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT junction_id, body FROM active_envelopes WHERE commune = %s", (commune,)
            ).fetchall()
        return {j: envelope_decoder.decode(b) for j, b in rows}

    def suspensions(self, commune: str) -> list[Suspension]:
        """The stops in force."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT body FROM suspensions WHERE commune = %s ORDER BY scope, target", (commune,)
            ).fetchall()
        return [suspension_decoder.decode(b) for (b,) in rows]

    def policies(self, commune: str) -> list[AutoApproval]:
        """The auto-approval policies in force."""
        with self.connect() as conn:
            return self._policies(conn, commune)

    def _policies(self, conn: psycopg.Connection[Any], commune: str) -> list[AutoApproval]:
        rows = conn.execute("SELECT body FROM policies WHERE commune = %s", (commune,)).fetchall()
        return [policy_decoder.decode(b) for (b,) in rows]

    def _active(
        self, conn: psycopg.Connection[Any], commune: str, junction_id: str
    ) -> ActivePlan | None:
        row = conn.execute(
            "SELECT body FROM active_plans WHERE commune = %s AND junction_id = %s",
            (commune, junction_id),
        ).fetchone()
        return None if row is None else active_decoder.decode(row[0])

    def _suspension(
        self,
        conn: psycopg.Connection[Any],
        commune: str,
        junction_id: str,
        zone_id: str,
        what: str = "recommendations",
    ) -> Suspension | None:
        rows = conn.execute(
            "SELECT body FROM suspensions WHERE commune = %s AND ((scope = 'junction' AND "
            "target = %s) OR (scope = 'zone' AND target = %s) OR scope = 'commune')",
            (commune, junction_id, zone_id),
        ).fetchall()
        for (b,) in rows:
            s = suspension_decoder.decode(b)
            if getattr(s, what):
                return s
        return None

    @staticmethod
    def _outbox(conn: psycopg.Connection[Any], topic: str, key: str, value: bytes | None) -> None:
        conn.execute(
            "INSERT INTO outbox (topic, key, value) VALUES (%s, %s, %s)",
            (topic, key.encode(), value),
        )

    def unpublished(self, limit: int = 500) -> list[tuple[int, str, bytes, bytes | None]]:
        """Outbox records not yet on Kafka, oldest first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT id, topic, key, value FROM outbox WHERE published_at IS NULL "
                "ORDER BY id LIMIT %s",
                (limit,),
            ).fetchall()
        return [(int(i), str(t), bytes(k), None if v is None else bytes(v)) for i, t, k, v in rows]

    def mark_published(self, ids: Sequence[int], now: datetime) -> None:
        """Mark outbox records as delivered."""
        with self.connect() as conn:
            conn.execute("UPDATE outbox SET published_at = %s WHERE id = ANY(%s)", (now, list(ids)))


__all__ = ["ENVELOPE", "KIND", "Commune", "Oversight", "Recommendation"]
