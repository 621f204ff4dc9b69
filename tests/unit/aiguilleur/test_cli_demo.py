"""`aiguilleur demo`: a feed it does not know is refused before anything starts."""

from __future__ import annotations

from typer.testing import CliRunner

from aiguilleur.cli import app


def test_unknown_source_is_refused() -> None:
    res = CliRunner().invoke(app, ["demo", "--source", "camera"])
    assert res.exit_code == 2
    assert "--source must be counts or twin, not 'camera'" in res.output
