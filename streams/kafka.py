"""The one place Kafka clients are made.

Every producer, consumer and admin client of the product comes from here, and so do Faust's broker
settings, so that all of them share the connection's security (SASL PLAIN / SCRAM-SHA-256 /
SCRAM-SHA-512 over TLS, or TLS alone, with an optional private CA), the same bounded retry while
the cluster cannot be reached, one clear error when it refuses us, and the waits the product needs
before it relies on a topic (created, every partition led) or on a consumer group's coordinator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams.errors import KafkaRefused, KafkaUnavailable

log = logging.getLogger("aiguilleur.kafka")

SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SASL_MECHANISMS: tuple[SaslMechanism, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the cluster is and how to talk to it (mapped from the settings object).

    With a SASL user: SASL over TLS (``SASL_SSL``); with only a CA file: TLS (``SSL``); with
    neither: plaintext. The broker's certificate is checked against ``ssl_cafile`` when given,
    else against the system's trusted CAs.
    """

    bootstrap: str
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    ssl_cafile: str | None = None
    connect_timeout_s: float = 10.0
    """How long a client keeps trying while the cluster cannot be reached at all (a broker that
    is restarting, a pod started before Kafka); a refusal (credentials, TLS) fails at once."""

    @property
    def security_protocol(self) -> Literal["PLAINTEXT", "SSL", "SASL_SSL"]:
        """Kafka's name for how the connection is secured."""
        if self.sasl_username:
            return "SASL_SSL"
        if self.ssl_cafile:
            return "SSL"
        return "PLAINTEXT"

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers, one ``host:port`` each."""
        return [b.strip() for b in self.bootstrap.split(",") if b.strip()]

    def describe(self) -> str:
        """For messages: where, how, as whom (never the password)."""
        how: str = self.security_protocol
        if self.sasl_username:
            how += f" {self.sasl_mechanism} as {self.sasl_username!r}"
        return f"{self.bootstrap} ({how})"


def ssl_context(conn: KafkaConnection) -> ssl.SSLContext | None:
    """The TLS context of a secured connection (``None`` for plaintext)."""
    if conn.security_protocol == "PLAINTEXT":
        return None
    return ssl.create_default_context(cafile=conn.ssl_cafile)


def client_options(conn: KafkaConnection) -> dict[str, Any]:
    """Connection and security arguments every aiokafka client takes."""
    options: dict[str, Any] = {
        "bootstrap_servers": conn.servers,
        "security_protocol": conn.security_protocol,
    }
    context = ssl_context(conn)
    if context is not None:
        options["ssl_context"] = context
    if conn.sasl_username:
        options["sasl_mechanism"] = conn.sasl_mechanism
        options["sasl_plain_username"] = conn.sasl_username
        options["sasl_plain_password"] = conn.sasl_password or ""
    return options


def producer(conn: KafkaConnection, *, client_id: str, **options: Any) -> AIOKafkaProducer:
    """A producer (not started: use :func:`start`); ``options`` are aiokafka's (``acks``, …)."""
    return AIOKafkaProducer(client_id=client_id, **client_options(conn), **options)


def consumer(
    conn: KafkaConnection, *topics: str, client_id: str, **options: Any
) -> AIOKafkaConsumer:
    """A consumer of ``topics`` (none: assign partitions yourself); not started."""
    return AIOKafkaConsumer(*topics, client_id=client_id, **client_options(conn), **options)


def reader(
    conn: KafkaConnection, *, client_id: str, from_beginning: bool = True
) -> AIOKafkaConsumer:
    """A consumer outside any group, committing nothing, that starts from the beginning (else the
    end) of the partitions it is assigned: every instance reads everything. Not started."""
    return consumer(
        conn,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )


def admin(conn: KafkaConnection, *, client_id: str = "aiguilleur-admin") -> AIOKafkaAdminClient:
    """An admin client (not started)."""
    return AIOKafkaAdminClient(client_id=client_id, **client_options(conn))


def faust_settings(conn: KafkaConnection) -> dict[str, Any]:
    """``broker`` and ``broker_credentials`` for ``faust.App``: the same cluster and security."""
    import faust

    credentials: Any = None
    context = ssl_context(conn)
    if conn.sasl_username:
        credentials = faust.SASLCredentials(
            username=conn.sasl_username,
            password=conn.sasl_password or "",
            mechanism=conn.sasl_mechanism,
            ssl_context=context,
        )
    elif context is not None:
        credentials = faust.SSLCredentials(context)
    return {
        "broker": [f"kafka://{s}" for s in conn.servers],
        "broker_credentials": credentials,
    }


# --- starting a client ------------------------------------------------------------------------


class _Startable(Protocol):
    async def start(self) -> None: ...


class _Reasons(logging.Handler):
    """Collects aiokafka's own error lines while a client starts: aiokafka logs why a bootstrap
    server failed (bad credentials, an untrusted certificate, a refused connection) and raises a
    ``KafkaConnectionError`` that no longer says it."""

    def __init__(self, servers: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.servers = servers
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if any(s in line for s in self.servers):
            self.lines.append(line)


@contextlib.contextmanager
def _reasons(conn: KafkaConnection) -> Iterator[_Reasons]:
    handler = _Reasons(conn.servers)
    logger = logging.getLogger("aiokafka")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


_UNREACHABLE = (
    "Connect call failed",
    "Errno 111",
    "Connection refused",
    "TimeoutError",
    "timed out",
)


def _diagnose(conn: KafkaConnection, reason: str) -> KafkaUnavailable:
    """The error to raise for a client that could not start, with what to do about it."""
    where = conn.describe()
    if "SaslAuthenticationFailed" in reason or "UnsupportedSaslMechanism" in reason:
        return KafkaRefused(
            conn.bootstrap,
            f"Kafka at {where} refused the credentials: {reason}",
            "check AIGUILLEUR_KAFKA_SASL_USERNAME, AIGUILLEUR_KAFKA_SASL_PASSWORD and "
            "AIGUILLEUR_KAFKA_SASL_MECHANISM",
        )
    if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate" in reason.lower():
        return KafkaRefused(
            conn.bootstrap,
            f"the TLS certificate of Kafka at {where} is not trusted: {reason}",
            "set AIGUILLEUR_KAFKA_SSL_CAFILE to the PEM file of the CA that signed it",
        )
    if "WRONG_VERSION_NUMBER" in reason or "SSL" in reason:
        return KafkaRefused(
            conn.bootstrap,
            f"no TLS handshake with Kafka at {where}: {reason}",
            "this listener may be plaintext: check the port, or unset AIGUILLEUR_KAFKA_SASL_* "
            "and AIGUILLEUR_KAFKA_SSL_CAFILE for a plaintext cluster",
        )
    if any(u in reason for u in _UNREACHABLE):
        return KafkaUnavailable(
            conn.bootstrap,
            f"Kafka at {where} cannot be reached after {conn.connect_timeout_s:g} s: {reason}",
            "check AIGUILLEUR_KAFKA_BOOTSTRAP and that the cluster runs "
            "(local broker: scripts/kafka.sh start)",
        )
    if not conn.sasl_username:
        return KafkaRefused(
            conn.bootstrap,
            f"Kafka at {where} closed the connection: {reason}",
            "the cluster probably requires SASL over TLS: set AIGUILLEUR_KAFKA_SASL_USERNAME and "
            "AIGUILLEUR_KAFKA_SASL_PASSWORD (and AIGUILLEUR_KAFKA_SSL_CAFILE for a private CA)",
        )
    return KafkaRefused(
        conn.bootstrap,
        f"Kafka at {where} closed the connection: {reason}",
        "check the port (the SASL_SSL listener's), the credentials and the mechanism",
    )


async def start(client: _Startable, conn: KafkaConnection) -> None:
    """Start ``client``; while the cluster cannot be reached, try again until
    ``conn.connect_timeout_s``. Raises ``KafkaRefused`` (credentials, TLS) at once and
    ``KafkaUnavailable`` after the timeout, each saying what to check."""
    deadline = time.monotonic() + conn.connect_timeout_s
    while True:
        with _reasons(conn) as reasons:
            try:
                await client.start()
                return
            except KafkaConnectionError as e:
                reason = reasons.lines[-1] if reasons.lines else str(e)
                error = _diagnose(conn, reason)
                if isinstance(error, KafkaRefused) or time.monotonic() > deadline:
                    # A client that failed to start still warns when collected unclosed, and a
                    # refused TLS connection closes as slowly as any other (see stop()).
                    with contextlib.suppress(KafkaError, OSError):
                        await stop(client, conn)
                    raise error from e
        log.info("event=kafka_unreachable bootstrap=%s reason=%r", conn.bootstrap, reason)
        await asyncio.sleep(0.5)


TLS_CLOSE_GRACE_S = 0.1
"""Pause after stopping a client on a TLS connection (see :func:`stop`)."""


async def stop(client: Any, conn: KafkaConnection) -> None:
    """Stop a producer or consumer (``stop()``) or an admin client (``close()``).

    aiokafka closes its connections without waiting for them to close (0.14,
    ``AIOKafkaConnection.close``). On TLS the socket is released only after the close_notify
    exchange with the broker, a round trip later; an event loop closed before that leaves the
    socket open. The short pause lets the exchange finish.
    """
    release = client.stop if hasattr(client, "stop") else client.close
    await release()
    if conn.security_protocol != "PLAINTEXT":
        await asyncio.sleep(TLS_CLOSE_GRACE_S)


@contextlib.asynccontextmanager
async def started_admin(
    conn: KafkaConnection, *, client_id: str = "aiguilleur-admin"
) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client, started, closed on exit."""
    client = admin(conn, client_id=client_id)
    await start(client, conn)
    try:
        yield client
    finally:
        await stop(client, conn)


# --- topics and groups ------------------------------------------------------------------------


TOPICS_READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the product creates when it is missing."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] | None = None


async def ensure_topics(
    conn: KafkaConnection, specs: Sequence[TopicSpec], *, timeout_s: float = TOPICS_READY_TIMEOUT_S
) -> None:
    """Create the topics of ``specs`` that do not exist (existing ones are left as they are),
    then wait until every partition of each has a leader."""
    async with started_admin(conn) as client:
        existing = set(await client.list_topics())
        wanted = [
            NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config)
            for s in specs
            if s.name not in existing
        ]
        if wanted:
            # Another worker may create them meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                await client.create_topics(wanted)
        await wait_topics_ready(client, [s.name for s in specs], timeout_s=timeout_s)


def _unled(described: list[dict[str, Any]]) -> list[str]:
    return [
        d["topic"]
        for d in described
        if d["error_code"] != 0
        or not d["partitions"]
        or any(p["error_code"] != 0 or p["leader"] < 0 for p in d["partitions"])
    ]


async def wait_topics_ready(
    client: AIOKafkaAdminClient, names: list[str], *, timeout_s: float = TOPICS_READY_TIMEOUT_S
) -> None:
    """Wait until every topic has all its partitions led: a topic created a moment ago is not yet
    in the broker's metadata, and a consumer group joining then is assigned none of its partitions
    (seen on a fresh broker: the zone stage never got the zone-readings topic)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pending = _unled(await client.describe_topics(names))
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topics {', '.join(sorted(pending))} have no leader after {timeout_s:g} s: "
                "is the Kafka cluster healthy?"
            )
        await asyncio.sleep(0.2)


async def topic_partitions(
    client: AIOKafkaAdminClient, topic: str, *, timeout_s: float | None = 30.0
) -> list[TopicPartition]:
    """The partitions of ``topic`` once it exists and each is led; ``[]`` if it does not exist
    after ``timeout_s`` (``None``: wait for ever). Never creates the topic (a metadata request
    for it would, on a broker that auto-creates topics)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        if topic in await client.list_topics():
            described = await client.describe_topics([topic])
            if not _unled(described):
                return [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
        if deadline is not None and time.monotonic() > deadline:
            return []
        await asyncio.sleep(0.5)


async def retrying(
    call: Callable[[], Awaitable[_T]],
    *,
    deadline: float,
    check: Callable[[], None] = lambda: None,
) -> _T:
    """``call()``, again after a short pause while it fails with a retriable Kafka error (a group
    coordinator not elected yet on a broker that has just started) until ``deadline`` (monotonic
    clock); ``check`` runs before each new try and may raise to stop."""
    while True:
        try:
            return await call()
        except KafkaError as e:
            if not e.retriable or time.monotonic() > deadline:
                raise
        check()
        await asyncio.sleep(0.2)


async def committed_offsets(
    client: AIOKafkaAdminClient,
    group: str,
    *,
    deadline: float,
    check: Callable[[], None] = lambda: None,
) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed (next offset to read, per partition)."""
    offsets = await retrying(
        lambda: client.list_consumer_group_offsets(group), deadline=deadline, check=check
    )
    return {tp: meta.offset for tp, meta in offsets.items()}
