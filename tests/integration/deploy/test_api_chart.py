"""The chart's operator API: a Deployment, a Service and an optional Ingress, with the database URL,
the identity provider and the checkpoint key taken from Secrets (referenced, never inlined in the
pod spec or a ConfigMap), probes on routes the API serves, non-root on a read-only filesystem."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiguilleur.settings import Settings

from .conftest import CHART, KUBE_FLOOR, KUBE_VERSION, Rendered, assert_restricted, merge
from .test_chart import validate_all

pytestmark = pytest.mark.integration

Render = Callable[..., Rendered]

DB_URL = "postgresql://aiguilleur:s3cr3t-pw@pg.traffic.svc:5432/aiguilleur"
ISSUER = "https://idp.example.org/realms/lyon"
JWKS = '{"keys": [{"kty": "RSA", "kid": "k1", "n": "sXch", "e": "AQAB"}]}'
PEM = (
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINotARealKeyButSecretAnyway==\n"
    "-----END PRIVATE KEY-----\n"
)

# The API with every secret from an existing Secret (what production should do).
EXISTING: dict[str, Any] = {
    "api": {
        "enabled": True,
        "database": {"existingSecret": "lyon-db", "urlKey": "dsn"},
        "oidc": {"existingSecret": "lyon-idp"},
        "auditSigningKey": {"existingSecret": "lyon-audit-key"},
    }
}
# The API with every secret given inline: the chart makes one Secret of them.
INLINE: dict[str, Any] = {
    "api": {
        "enabled": True,
        "database": {"url": DB_URL},
        "oidc": {"issuer": ISSUER, "jwks": JWKS},
        "auditSigningKey": {"pem": PEM},
    }
}
INGRESS: dict[str, Any] = {
    "api": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "host": "feux.lyon.example.org",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1m"},
            "tls": {"enabled": True, "secretName": "feux-lyon-tls"},
        }
    }
}


def _api_objects(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        m
        for m in rendered.manifests
        if m["metadata"]["labels"].get("app.kubernetes.io/component") == "api"
    ]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in _container(deployment)["env"]}


def test_the_api_is_off_by_default(render: Render) -> None:
    assert _api_objects(render()) == []


@pytest.mark.parametrize("ingress", [False, True])
@pytest.mark.parametrize("secrets", ["existing", "inline"])
@pytest.mark.parametrize("kube", [KUBE_VERSION, KUBE_FLOOR])
def test_api_objects_are_valid_with_and_without_ingress(
    render: Render, ingress: bool, secrets: str, kube: str
) -> None:
    values = merge(EXISTING if secrets == "existing" else INLINE, INGRESS if ingress else {})
    rendered = render(values, kube_version=kube)
    validate_all(rendered, kube)
    kinds = sorted(m["kind"] for m in _api_objects(rendered))
    expected = ["Deployment", "Service"]
    expected += ["Ingress"] if ingress else []
    expected += ["Secret"] if secrets == "inline" else []
    assert kinds == sorted(expected)


def test_the_ingress_routes_the_host_to_the_api_service(render: Render) -> None:
    rendered = render(merge(EXISTING, INGRESS))
    ingress = rendered.one("Ingress")
    service = rendered.one("Service", "-api")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "feux.lyon.example.org"
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert ingress["spec"]["tls"] == [
        {"hosts": ["feux.lyon.example.org"], "secretName": "feux-lyon-tls"}
    ]
    assert ingress["metadata"]["annotations"] == INGRESS["api"]["ingress"]["annotations"]
    # the Service selects the API's pods, and only them
    deployment = rendered.one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    worker_labels = rendered.one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    for worker_service in ("aiguilleur", "-headless"):
        selector = rendered.one("Service", worker_service)["spec"]["selector"]
        assert not selector.items() <= pod_labels.items()
    ports = {p["name"]: p["containerPort"] for p in _container(deployment)["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in ports


def test_an_ingress_without_a_host_is_refused_with_its_name(render: Render) -> None:
    rendered = render(merge(EXISTING, {"api": {"ingress": {"enabled": True}}}))
    assert rendered.returncode != 0
    assert "api.ingress.host is required" in rendered.stderr


@pytest.mark.parametrize("secrets", ["existing", "inline"])
def test_secrets_are_referenced_never_inlined(render: Render, secrets: str) -> None:
    rendered = render(EXISTING if secrets == "existing" else INLINE)
    deployment = rendered.one("Deployment")
    env = _env(deployment)
    names = {
        "AIGUILLEUR_DATABASE_URL": "lyon-db" if secrets == "existing" else "aiguilleur-api",
        "AIGUILLEUR_OIDC_ISSUER": "lyon-idp" if secrets == "existing" else "aiguilleur-api",
        "AIGUILLEUR_OIDC_AUDIENCE": "lyon-idp" if secrets == "existing" else "aiguilleur-api",
    }
    for var, secret in names.items():
        assert "value" not in env[var], var
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == secret, var
    assert env["AIGUILLEUR_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == (
        "dsn" if secrets == "existing" else "url"
    )
    # the JWKS and the signing key are files of Secret volumes, the key readable by the group only
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in _container(deployment)["volumeMounts"]}
    jwks_file = Path(env["AIGUILLEUR_OIDC_JWKS_FILE"]["value"])
    key_file = Path(env["AIGUILLEUR_AUDIT_SIGNING_KEY_FILE"]["value"])
    for volume, path in (("oidc", jwks_file), ("audit-key", key_file)):
        assert mounts[volume]["readOnly"] is True
        assert Path(mounts[volume]["mountPath"]) == path.parent
        (item,) = volumes[volume]["secret"]["items"]
        assert item["path"] == path.name
    assert volumes["audit-key"]["secret"]["defaultMode"] == 0o440
    assert volumes["audit-key"]["secret"]["secretName"] == (
        "lyon-audit-key" if secrets == "existing" else "aiguilleur-api"
    )
    # no secret value anywhere but in a Secret
    for manifest in rendered.manifests:
        if manifest["kind"] == "Secret":
            continue
        text = yaml.safe_dump(manifest)
        for secret_value in (DB_URL, "s3cr3t-pw", ISSUER, "sXch", "NotARealKey"):
            assert secret_value not in text, (manifest["kind"], secret_value)
    if secrets == "inline":
        data = rendered.one("Secret", "-api")["data"]
        decoded = {k: base64.b64decode(v).decode() for k, v in data.items()}
        assert decoded == {
            "url": DB_URL,
            "issuer": ISSUER,
            "audience": "aiguilleur",
            "jwks.json": JWKS,
            "signing-key.pem": PEM,
        }
    else:
        assert not [m for m in rendered.manifests if m["kind"] == "Secret"]


def test_a_partly_existing_set_of_secrets_makes_a_secret_of_the_rest_only(
    render: Render,
) -> None:
    values = merge(INLINE, {"api": {"database": {"existingSecret": "lyon-db"}}})
    rendered = render(values)
    data = rendered.one("Secret", "-api")["data"]
    assert "url" not in data
    assert set(data) == {"issuer", "audience", "jwks.json", "signing-key.pem"}
    env = _env(rendered.one("Deployment"))
    assert env["AIGUILLEUR_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "lyon-db"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("database", "api.database.url is required"),
        ("oidc", "api.oidc.issuer is required"),
        ("auditSigningKey", "api.auditSigningKey.pem is required"),
    ],
)
def test_a_missing_secret_value_fails_with_its_name(
    render: Render, missing: str, message: str
) -> None:
    values = json.loads(json.dumps(INLINE))
    del values["api"][missing]
    rendered = render(values)
    assert rendered.returncode != 0
    assert message in rendered.stderr


def test_without_a_signing_key_no_key_file_is_set(render: Render) -> None:
    values = merge(EXISTING, {"api": {"auditSigningKey": {"enabled": False}}})
    rendered = render(values)
    validate_all(rendered, KUBE_VERSION)
    env = _env(rendered.one("Deployment"))
    assert "AIGUILLEUR_AUDIT_SIGNING_KEY_FILE" not in env


def _served_paths() -> set[str]:
    """The paths the API app really serves (built without a database: nothing connects)."""
    from api.app import ApiConfig, create_app
    from api.auth import TokenVerifier
    from oversight.service import Oversight
    from tests.fixtures import identity

    verifier = TokenVerifier(identity.ISSUER, identity.AUDIENCE, identity.jwks(), "roles")
    app = create_app(Oversight("postgresql://nowhere.invalid/x", []), verifier, ApiConfig({}))
    return {str(getattr(r, "path", "")) for r in app.routes}


def test_probes_hit_routes_the_api_serves_on_its_declared_port(render: Render) -> None:
    deployment = render(merge(EXISTING, {"api": {"port": 8181}})).one("Deployment")
    container = _container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8181}
    assert _env(deployment)["AIGUILLEUR_API_PORT"]["value"] == "8181"
    served = _served_paths()
    probes = {
        k: container[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    for name, probe in probes.items():
        assert probe["port"] in ports, name
        assert probe["path"] in served, name
    # readiness checks the database; liveness only that the process serves
    assert probes["readinessProbe"]["path"] == "/api/ready"
    assert probes["livenessProbe"]["path"] == "/api/health"


def test_the_api_pod_runs_non_root_on_a_read_only_root_filesystem(render: Render) -> None:
    deployment = render(EXISTING).one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert_restricted(pod, container)
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
    assert {m["mountPath"] for m in writable} >= {"/tmp", "/var/lib/aiguilleur"}
    for mount in writable:
        assert "emptyDir" in volumes[mount["name"]], mount


def test_every_variable_the_api_gets_is_a_setting(render: Render) -> None:
    values = merge(
        EXISTING,
        {
            "config": {"commune": "lyon", "topicNamespace": "lyon"},
            "data": {"existingConfigMap": "lyon-data"},
            "sasl": {"enabled": True, "existingSecret": "kafka-sasl"},
        },
    )
    rendered = render(values)
    deployment = rendered.one("Deployment")
    config = rendered.one("ConfigMap", "-config")["data"]
    names = set(_env(deployment)) | set(config)
    fields = set(Settings.model_fields)
    unknown = [n for n in names if n.removeprefix("AIGUILLEUR_").lower() not in fields]
    assert unknown == []
    # the API and the worker read the same commune and network file
    assert config["AIGUILLEUR_COMMUNE"] == "lyon"
    assert config["AIGUILLEUR_NETWORK_FILE"] == "/etc/aiguilleur/data/network.osm"
    mounts = {m["name"]: m["mountPath"] for m in _container(deployment)["volumeMounts"]}
    assert mounts["data"] == "/etc/aiguilleur/data"


def test_several_communes_from_one_api(render: Render) -> None:
    communes = [
        {"id": "lyon", "name": "Lyon", "namespace": "lyon", "networkFileName": "lyon.osm.gz"},
        {"id": "villeurbanne", "namespace": "vlb", "networkFileName": "vlb.osm.gz"},
    ]
    values = merge(EXISTING, {"api": {"communes": communes}, "data": {"existingConfigMap": "d"}})
    rendered = render(values)
    validate_all(rendered, KUBE_VERSION)
    listed = json.loads(rendered.one("ConfigMap", "-communes")["data"]["communes.json"])
    assert listed == [
        {
            "id": "lyon",
            "name": "Lyon",
            "namespace": "lyon",
            "network_file": "/etc/aiguilleur/data/lyon.osm.gz",
        },
        {
            "id": "villeurbanne",
            "name": "villeurbanne",
            "namespace": "vlb",
            "network_file": "/etc/aiguilleur/data/vlb.osm.gz",
        },
    ]
    env = _env(rendered.one("Deployment"))
    assert env["AIGUILLEUR_COMMUNES_FILE"]["value"] == "/etc/aiguilleur/communes/communes.json"


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"api": {"enabled": True, "port": 0}}, "port"),
        ({"api": {"enabled": True, "ingress": {"host": "Feux_Lyon"}}}, "host"),
        ({"api": {"enabled": True, "oidc": {"issuer": "idp.example.org"}}}, "issuer"),
        ({"api": {"enabled": True, "database": {"url": "mysql://x"}}}, "url"),
        ({"api": {"enabled": True, "replicas": 2}}, "replicas"),
        ({"api": {"enabled": True, "communes": [{"id": "Lyon", "networkFileName": "a"}]}}, "id"),
        # secrets must not be smuggled through the ConfigMap
        ({"config": {"extraEnv": {"AIGUILLEUR_DATABASE_URL": "postgresql://x"}}}, "DATABASE_URL"),
        ({"config": {"extraEnv": {"AIGUILLEUR_OIDC_JWKS": "{}"}}}, "OIDC_JWKS"),
    ],
)
def test_schema_rejects_bad_api_values(render: Render, values: dict[str, Any], path: str) -> None:
    rendered = render(values)
    assert rendered.returncode != 0, f"{values} was accepted"
    assert "schema" in rendered.stderr
    assert path in rendered.stderr


def test_config_change_rolls_the_api_pods(render: Render) -> None:
    def checksum(level: str) -> str:
        d = render(merge(EXISTING, {"config": {"logLevel": level}})).one("Deployment")
        return str(d["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum("info") != checksum("debug")


def test_helm_lint_passes_with_the_api(helm: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    lint = merge(merge(INLINE, INGRESS), {"image": {"repository": "r.example.org/a"}})
    values.write_text(yaml.safe_dump(merge(lint, {"config": {"kafkaBootstrap": "k:9092"}})))
    proc = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--values", str(values)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
