"""The one settings object of a process: ``AIGUILLEUR_*`` variables, validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "data" / "demo"


class Settings(BaseSettings):
    """Everything a worker, the CLI or the demo can be told. Frozen: read once, passed down."""

    model_config = SettingsConfigDict(env_prefix="AIGUILLEUR_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:39092",
        description="Kafka bootstrap servers, host:port[,host:port] (local broker: 39092).",
    )
    kafka_sasl_username: str | None = Field(
        default=None,
        description="SASL user: set, every client speaks SASL over TLS (SASL_SSL) to the cluster.",
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (required with a SASL user)."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description=(
            "PEM file of the CA that signed the brokers' certificates (a private CA); unset: the "
            "system's trusted CAs. Alone, without a SASL user: TLS without SASL."
        ),
    )
    topic_namespace: str = Field(
        default="",
        pattern=r"^[a-z0-9][a-z0-9-]{0,40}$|^$",
        description="Prefix of every topic, e.g. a commune's code for a multi-tenant deployment.",
    )
    commune: str = Field(
        default="",
        pattern=r"^[a-z0-9][a-z0-9-]{0,40}$|^$",
        description=(
            "The commune (tenant) a worker plans for, on every plan; operators' roles are per "
            "commune. Empty: the topic namespace, or 'default' without one."
        ),
    )
    app_id: str = Field(default="aiguilleur", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    network_file: Path = DEMO_DIR / "lyon-villeurbanne.osm.gz"
    detector_registry: Path = DEMO_DIR / "detectors.csv"
    cache_dir: Path = REPO_ROOT / ".cache" / "networks"
    state_dir: Path = REPO_ROOT / ".cache" / "faust-state"
    partitions: int = Field(
        default=4,
        ge=1,
        le=1024,
        description="Partitions of the topics aiguilleur creates (input, zones, output).",
    )
    replication_factor: int = Field(
        default=1,
        ge=1,
        le=7,
        description="Replicas of the topics aiguilleur creates (3 in production).",
    )
    control_period_s: int = Field(default=300, ge=30, le=3600)
    window_s: int | None = Field(
        default=None,
        ge=60,
        le=7200,
        description="Counting window for a plan; defaults to the control period.",
    )
    recent_window_s: int = Field(
        default=900,
        ge=0,
        le=7200,
        description=(
            "Longer recent window whose flows every lane group also carries (HCM's 15-minute "
            "analysis period): a phase the recent traffic needs is kept when the latest window "
            "was quiet. 0 (or not longer than the window): not used."
        ),
    )
    lateness_s: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="How long after a period ends late readings are still awaited.",
    )
    pedestrian_flow_pph: float = Field(
        default=60.0,
        ge=0,
        le=10_000,
        description="Pedestrians/h assumed on each crossing phase (no pedestrian counts yet).",
    )
    cycle_min_s: int = Field(default=40, ge=20, le=300)
    cycle_max_s: int = Field(default=120, ge=30, le=300)
    planner: str = Field(
        default="optimizer",
        pattern=r"^[a-z0-9:-]{1,40}$",
        description=(
            "Registered planner: optimizer (OR-Tools, HCM delay), webster, fixed-time, one "
            "junction at a time; or a zone planner, coordinated (common cycle and offsets per "
            "zone). The worker checks the name against both registries at start-up."
        ),
    )
    guardrail_max_cycle_step_s: int = Field(
        default=10,
        ge=0,
        le=300,
        description=(
            "Most a published plan's cycle may move from the junction's running plan (the last "
            "one published) per cycle, in s; 0: unbounded. With the green bound also 0, "
            "guardrails are off. Not applied to coordinated zones."
        ),
    )
    guardrail_max_green_step_s: int = Field(
        default=8,
        ge=0,
        le=300,
        description=(
            "Most each phase's green may move from the running plan per cycle, in s; 0: unbounded."
        ),
    )
    controller: str = Field(
        default="",
        pattern=r"^[a-z0-9:-]{0,40}$",
        description=(
            "Registered live controller of the control stage (adaptive, max-pressure); empty "
            "(default): no control stage. It decides only for junctions with an approved envelope."
        ),
    )
    ingest_batch: int = Field(default=20_000, ge=1, le=100_000)
    ingest_within_s: float = Field(default=0.2, gt=0, le=10)
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="0 disables the /metrics endpoint."
    )
    web_port: int = Field(
        default=0, ge=0, le=65535, description="Faust's web server; 0 disables it."
    )
    session_timeout_s: float = Field(default=10.0, ge=6, le=300)
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL of the operator API: lifecycle and audit trail "
        "(postgresql://user@host:port/db).",
    )
    oidc_issuer: str = Field(default="", description="Identity provider's issuer (iss claim).")
    oidc_audience: str = Field(default="aiguilleur", description="Expected aud claim.")
    oidc_jwks_file: Path | None = Field(
        default=None, description="The provider's JWKS (public keys), read at start-up."
    )
    oidc_jwks: str = Field(default="", description="The JWKS itself, when not in a file.")
    oidc_roles_claim: str = Field(
        default="aiguilleur_roles",
        description="Claim (dotted path) holding '<commune>:<role>' strings.",
    )
    audit_signing_key_file: Path | None = Field(
        default=None, description="Ed25519 PEM key signing the audit checkpoints."
    )
    audit_checkpoint_s: float = Field(default=60.0, ge=1, le=3600)
    communes_file: Path | None = Field(
        default=None,
        description="JSON list of the communes the API serves: id, name, namespace, "
        "network_file. Default: one commune, this process's.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_url: str = Field(
        default="",
        pattern=r"^(https?://\S+)?$",
        description="Where the operator CLI finds the API (http(s)://host:port). Empty: "
        "http://<api_host>:<api_port>.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="The operator CLI's bearer token (an access token of the identity provider).",
    )
    token_file: Path | None = Field(
        default=None, description="A file holding the operator CLI's bearer token."
    )
    event_time_max_ahead_s: int = Field(
        default=900,
        ge=0,
        le=31 * 86_400,
        description=(
            "Readings dated more than this ahead of the worker's clock go to the dead letters "
            "(event_time_ahead): a sensor with a wrong clock must not move a zone's time."
        ),
    )
    event_time_max_behind_s: int = Field(
        default=7 * 86_400,
        ge=0,
        le=3660 * 86_400,
        description=(
            "Readings dated more than this behind the worker's clock go to the dead letters "
            "(event_time_behind)."
        ),
    )
    event_time_replay: bool = Field(
        default=False,
        description=(
            "Accept readings of any date: replays of recorded feeds at their own dates, the "
            "twin's simulated clock. Each zone's clock still follows a quorum of its detectors."
        ),
    )
    shutdown_timeout_s: float = Field(
        default=10.0,
        ge=1,
        le=600,
        description=(
            "Most a worker takes to stop on SIGTERM/SIGINT, whatever the broker's state; what it "
            "could not commit by then is logged and read again by the next start."
        ),
    )
    planning_processes: int = Field(
        default=1,
        ge=0,
        le=64,
        description=(
            "Processes that compute plans beside the worker's event loop, at a lower CPU "
            "priority, so that planning never starves ingest; 0: plans are computed in the "
            "worker process itself."
        ),
    )
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    reroute: bool = Field(
        default=False,
        description=(
            "Run the rerouting stage: incidents in, reroute advice out (it builds the routable "
            "graph of the whole drivable network at start-up)."
        ),
    )
    routing_file: Path | None = Field(
        default=None,
        description=(
            "OSM extract or SUMO .net.xml of the routable graph; default: AIGUILLEUR_NETWORK_FILE "
            "when it is one of those."
        ),
    )
    sign_registry: Path | None = Field(
        default=None,
        description="CSV of the variable-message signs (sign_id and osm_node, or lat,lon,bearing).",
    )
    reroute_compliance: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Share of drivers assumed to follow advice (allocation, effects, plans).",
    )
    reroute_max_alternatives: int = Field(default=3, ge=1, le=8)
    reroute_allow_residential: bool = Field(
        default=False,
        description="Allow diversions through residential and living streets and service roads.",
    )
    reroute_navigation_partners: bool = Field(
        default=True,
        description="Every upstream intersection can act (navigation apps), not only signs.",
    )
    reroute_max_upstream_m: float = Field(default=1500.0, ge=50, le=20_000)
    reroute_validity_s: int = Field(default=1800, ge=60, le=86_400)
    reroute_assumed_load: float = Field(
        default=0.5,
        ge=0,
        le=1.5,
        description="Flow over capacity assumed on links no detector measures.",
    )

    @field_validator("cycle_max_s")
    @classmethod
    def _cycle_bounds(cls, v: int, info: object) -> int:
        data = getattr(info, "data", {})
        lo = data.get("cycle_min_s", 40)
        if v < lo:
            raise ValueError(
                f"AIGUILLEUR_CYCLE_MAX_S ({v}) must be >= AIGUILLEUR_CYCLE_MIN_S ({lo})"
            )
        return v

    @field_validator("token_file", "kafka_ssl_cafile", mode="before")
    @classmethod
    def _no_empty_path(cls, v: object) -> object:
        return None if v == "" else v  # an empty variable means unset, not the current directory

    @field_validator("kafka_ssl_cafile")
    @classmethod
    def _cafile_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"{v} is not a file: give the PEM file of the brokers' CA")
        return v

    @model_validator(mode="after")
    def _sasl_complete(self) -> Settings:
        if self.kafka_sasl_username and self.kafka_sasl_password is None:
            raise ValueError(
                "AIGUILLEUR_KAFKA_SASL_USERNAME is set but AIGUILLEUR_KAFKA_SASL_PASSWORD is not: "
                "set both, or neither for a cluster without SASL"
            )
        if self.kafka_sasl_password is not None and not self.kafka_sasl_username:
            raise ValueError(
                "AIGUILLEUR_KAFKA_SASL_PASSWORD is set but AIGUILLEUR_KAFKA_SASL_USERNAME is not: "
                "set both, or neither for a cluster without SASL"
            )
        return self

    @property
    def effective_commune(self) -> str:
        """The commune, defaulting to the topic namespace, then ``default``."""
        return self.commune or self.topic_namespace or "default"

    @property
    def effective_api_url(self) -> str:
        """Where the operator CLI finds the API."""
        if self.api_url:
            return self.api_url.rstrip("/")
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::", "") else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def effective_window_s(self) -> int:
        """The counting window, defaulting to the control period."""
        return self.window_s or self.control_period_s
