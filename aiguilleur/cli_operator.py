"""``aiguilleur api`` and ``aiguilleur audit``: the operator API and the audit trail's checks."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(
    help="The audit trail: verify it, replay a recommendation.", no_args_is_help=True
)


def serve() -> None:
    """Run the operator API and page (AIGUILLEUR_DATABASE_URL, AIGUILLEUR_OIDC_*)."""
    import uvicorn

    from aiguilleur.cli import _settings
    from aiguilleur.operator import build_api

    s = _settings()
    try:
        app = build_api(s)
    except ValueError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    uvicorn.run(
        app, host=s.api_host, port=s.api_port, log_level=s.log_level.replace("warn", "warning")
    )


@audit_app.command("verify")
def verify_cmd(
    key: Annotated[
        Path | None,
        typer.Option(
            help="Checkpoint public key (PEM); default AIGUILLEUR_AUDIT_SIGNING_KEY_FILE."
        ),
    ] = None,
) -> None:
    """Check the whole trail: names the first edited, deleted, reordered or missing record."""
    from aiguilleur.cli import _settings
    from aiguilleur.operator import verify_trail

    s = _settings()
    report = verify_trail(s, key or s.audit_signing_key_file)
    print(
        f"{report.records} records, {report.checkpoints} signed checkpoints, "
        f"head {report.head_seq} {report.head_hash[:16]}…, "
        f"last checkpoint at record {report.last_checkpoint_seq}"
    )
    if report.problem is not None:
        print(f"FAIL at record {report.problem.seq}: {report.problem.reason}")
        raise typer.Exit(1)
    print(
        "OK: the chain is intact"
        + (
            ""
            if (key or s.audit_signing_key_file)
            else " (no key given: checkpoints and truncation not checked)"
        )
    )


@audit_app.command("replay")
def replay_cmd(
    plan_id: Annotated[str, typer.Argument(help="The recommendation's plan id.")],
) -> None:
    """Recompute a recommendation from its logged inputs and compare, byte for byte."""
    from aiguilleur.cli import _settings
    from aiguilleur.operator import replay

    try:
        r = replay(_settings(), plan_id)
    except (KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from e
    if r.identical:
        print(
            f"identical: {plan_id} recomputed from inputs {r.inputs_id}, {len(r.published)} bytes"
        )
        return
    print(f"DIFFERENT: {plan_id} from inputs {r.inputs_id}")
    print(f"published:  {r.published.decode()}")
    print(f"recomputed: {(r.recomputed or b'(no plan)').decode()}")
    raise typer.Exit(1)


@audit_app.command("keygen")
def keygen_cmd(
    out: Annotated[Path, typer.Argument(help="Where to write the private key (PEM).")],
) -> None:
    """Create an Ed25519 checkpoint key (and OUT.pub, its public half for auditors)."""
    from audit import signing

    key = signing.generate()
    out.write_bytes(signing.private_pem(key))
    out.chmod(0o600)
    pub = out.with_name(out.name + ".pub")
    pub.write_bytes(signing.public_pem(key.public_key()))
    print(
        f"wrote {out} and {pub} (key id {signing.key_id(key.public_key())}) "
        f"at {datetime.now(UTC):%Y-%m-%d %H:%M}Z"
    )
