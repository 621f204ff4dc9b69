"""The one Kafka module: every client gets the connection's security; failures say what to check.

The broker itself is in tests/integration/aiguilleur/test_sasl.py; here, what needs none.
"""

from __future__ import annotations

import logging
import socket
import ssl

import faust
import pytest

from streams import kafka
from streams.errors import KafkaRefused, KafkaUnavailable
from streams.kafka import KafkaConnection

PLAIN = KafkaConnection("127.0.0.1:1, 127.0.0.2:2")
SECURED = KafkaConnection(
    "k1:9093", sasl_username="lyon", sasl_password="s3cr3t", sasl_mechanism="SCRAM-SHA-256"
)
TLS_ONLY = KafkaConnection("k1:9093", ssl_cafile=ssl.get_default_verify_paths().openssl_cafile)


def test_plaintext_clients_get_no_tls_and_no_sasl() -> None:
    options = kafka.client_options(PLAIN)
    assert options == {
        "bootstrap_servers": ["127.0.0.1:1", "127.0.0.2:2"],
        "security_protocol": "PLAINTEXT",
    }


def test_a_sasl_user_means_sasl_over_tls_for_every_client() -> None:
    options = kafka.client_options(SECURED)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "lyon"
    assert options["sasl_plain_password"] == "s3cr3t"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert options["ssl_context"].check_hostname


def test_a_ca_file_alone_means_tls_without_sasl() -> None:
    options = kafka.client_options(TLS_ONLY)
    assert options["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in options


def test_faust_gets_the_same_cluster_and_credentials() -> None:
    settings = kafka.faust_settings(SECURED)
    assert settings["broker"] == ["kafka://k1:9093"]
    creds = settings["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.mechanism.value) == (
        "lyon",
        "s3cr3t",
        "SCRAM-SHA-256",
    )
    assert creds.protocol.value == "SASL_SSL"
    assert kafka.faust_settings(PLAIN)["broker_credentials"] is None
    assert isinstance(kafka.faust_settings(TLS_ONLY)["broker_credentials"], faust.SSLCredentials)


def test_the_password_stays_out_of_repr_and_messages() -> None:
    assert "s3cr3t" not in repr(SECURED)
    assert "s3cr3t" not in SECURED.describe()
    assert "'lyon'" in SECURED.describe()


# What aiokafka logs when a bootstrap server fails (seen against scripts/kafka.sh start --sasl).
SASL_FAILED = (
    'Unable connect to "k1:9093": [Error 58] SaslAuthenticationFailed: Authentication failed '
    "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
)
UNTRUSTED = (
    'Unable connect to "k1:9093": [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: '
    "self-signed certificate in certificate chain (_ssl.c:1006)"
)
CLOSED = 'Unable connect to "k1:9093": KafkaConnectionError: Connection at k1:9093 closed'
REFUSED = "Unable connect to \"k1:9093\": [Errno 111] Connect call failed ('k1', 9093)"


@pytest.mark.parametrize(
    ("conn", "reason", "kind", "hint"),
    [
        (SECURED, SASL_FAILED, KafkaRefused, "AIGUILLEUR_KAFKA_SASL_PASSWORD"),
        (SECURED, UNTRUSTED, KafkaRefused, "AIGUILLEUR_KAFKA_SSL_CAFILE"),
        (PLAIN, CLOSED, KafkaRefused, "requires SASL over TLS"),
        (SECURED, CLOSED, KafkaRefused, "the SASL_SSL listener"),
        (SECURED, REFUSED, KafkaUnavailable, "AIGUILLEUR_KAFKA_BOOTSTRAP"),
    ],
)
def test_each_failure_says_what_to_check(
    conn: KafkaConnection, reason: str, kind: type[KafkaUnavailable], hint: str
) -> None:
    error = kafka._diagnose(conn, reason)
    assert type(error) is kind
    assert hint in str(error)
    assert conn.bootstrap in str(error)
    assert reason in str(error)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_cluster_is_retried_until_the_timeout_then_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = KafkaConnection(f"127.0.0.1:{_closed_port()}", connect_timeout_s=1.5)
    client = kafka.admin(conn)
    with (
        caplog.at_level(logging.INFO, logger="aiguilleur.kafka"),
        pytest.raises(KafkaUnavailable, match=r"cannot be reached after 1\.5 s") as err,
    ):
        await kafka.start(client, conn)
    assert not isinstance(err.value, KafkaRefused)
    retries = [r for r in caplog.records if "event=kafka_unreachable" in r.getMessage()]
    assert len(retries) >= 2  # tried again, not given up at the first refused connection
