"""Settings: validated at start-up, errors name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aiguilleur.settings import Settings


def test_defaults_point_at_the_committed_demo_city() -> None:
    s = Settings()
    assert s.network_file.exists()
    assert s.effective_window_s == s.control_period_s


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLEUR_CONTROL_PERIOD_S", "5")
    with pytest.raises(ValidationError, match="control_period_s"):
        Settings()


def test_cycle_bounds_are_checked_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLEUR_CYCLE_MIN_S", "90")
    monkeypatch.setenv("AIGUILLEUR_CYCLE_MAX_S", "60")
    with pytest.raises(ValidationError, match="AIGUILLEUR_CYCLE_MAX_S"):
        Settings()


def test_password_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiguilleur.wiring import streams_config

    monkeypatch.setenv("AIGUILLEUR_KAFKA_SASL_USERNAME", "lyon")
    monkeypatch.setenv("AIGUILLEUR_KAFKA_SASL_PASSWORD", "hunter2")
    s = Settings()
    assert "hunter2" not in repr(s)
    cfg = streams_config(s)
    assert cfg.kafka.sasl_password == "hunter2"
    assert "hunter2" not in repr(cfg)


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("AIGUILLEUR_KAFKA_SASL_USERNAME", "AIGUILLEUR_KAFKA_SASL_PASSWORD"),
        ("AIGUILLEUR_KAFKA_SASL_PASSWORD", "AIGUILLEUR_KAFKA_SASL_USERNAME"),
    ],
)
def test_sasl_user_and_password_come_together(
    monkeypatch: pytest.MonkeyPatch, given: str, missing: str
) -> None:
    monkeypatch.setenv(given, "x")
    with pytest.raises(ValidationError, match=f"{missing} is not"):
        Settings()


def test_a_ca_file_that_is_not_there_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIGUILLEUR_KAFKA_SSL_CAFILE", str(tmp_path / "ca.pem"))
    with pytest.raises(ValidationError, match="kafka_ssl_cafile"):
        Settings()


def test_guardrail_bounds_default_to_the_optimisers_and_zero_turns_them_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiguilleur.wiring import planning_config
    from optimizer.guardrails import GuardrailConfig

    assert planning_config(Settings()).guardrails == GuardrailConfig()
    monkeypatch.setenv("AIGUILLEUR_GUARDRAIL_MAX_CYCLE_STEP_S", "0")
    monkeypatch.setenv("AIGUILLEUR_GUARDRAIL_MAX_GREEN_STEP_S", "0")
    assert planning_config(Settings()).guardrails is None
    monkeypatch.setenv("AIGUILLEUR_GUARDRAIL_MAX_GREEN_STEP_S", "-3")
    with pytest.raises(ValidationError, match="guardrail_max_green_step_s"):
        Settings()
