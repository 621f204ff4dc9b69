"""The Helm chart renders, validates against Kubernetes' schemas, and refuses bad values."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, KUBE_FLOOR, KUBE_VERSION, RULES, Rendered, assert_restricted, merge

pytestmark = pytest.mark.integration

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate missing: run scripts/install_ops_tools.sh"
)

Render = Callable[..., Rendered]

# Prometheus Operator kinds, absent from Kubernetes' schemas: the tests below check their content.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

# Every optional feature switched on, every default changed somewhere.
NON_DEFAULT: dict[str, Any] = {
    "replicaCount": 3,
    "image": {"tag": "1.2.3", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry-creds"}],
    "config": {
        "kafkaBootstrap": "kafka-0.kafka:9093,kafka-1.kafka:9093",
        "appId": "aiguilleur-lyon",
        "topicNamespace": "lyon",
        "partitions": 12,
        "controlPeriodSeconds": 120,
        "logLevel": "debug",
        "webPort": 8066,
        "metricsPort": 9000,
        "extraEnv": {"AIGUILLEUR_EXTRA": "1"},
    },
    "sasl": {
        "enabled": True,
        "existingSecret": "kafka-lyon-sasl",
        "usernameKey": "user",
        "mechanism": "SCRAM-SHA-256",
    },
    "kafkaTls": {"caSecret": "kafka-lyon-ca", "caKey": "ca.pem"},
    "data": {"volume": {"persistentVolumeClaim": {"claimName": "osm-lyon", "readOnly": True}}},
    "persistence": {"enabled": True, "size": "5Gi", "storageClassName": "fast"},
    "podManagementPolicy": "OrderedReady",
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    "probes": {"startup": {"enabled": False}},
    "podDisruptionBudget": {"maxUnavailable": "50%"},
    "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "kube-prom"}},
    "prometheusRule": {"enabled": True, "runbookBaseUrl": "https://ops.example.org/runbooks/"},
    "podAnnotations": {"team": "mobility"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "streams", "effect": "NoSchedule"}
    ],
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "aiguilleur"}},
        }
    ],
    "priorityClassName": "traffic-critical",
}


def validate_all(rendered: Rendered, version: str) -> set[str]:
    """Validate every manifest strictly (unknown fields fail); return the kinds not validated."""
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.manifests, "nothing rendered"
    unchecked = set()
    for manifest in rendered.manifests:
        if manifest["kind"] in CRD_KINDS:
            unchecked.add(manifest["kind"])
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            name = f"{manifest['kind']}/{manifest['metadata']['name']}"
            pytest.fail(f"{name} is invalid for Kubernetes {version}: {e}")
    return unchecked


def env_of(statefulset: dict[str, Any]) -> dict[str, Any]:
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container.get("env", [])}


def volumes_of(statefulset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}


def test_defaults_render_the_minimal_set_of_objects(render: Render) -> None:
    rendered = render()
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.kinds() == [
        "ConfigMap",
        "PodDisruptionBudget",
        "Service",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    ]


@pytest.mark.parametrize("scenario", ["defaults", "non-default"])
def test_every_manifest_is_valid_for_a_recent_kubernetes(render: Render, scenario: str) -> None:
    rendered = render(NON_DEFAULT if scenario == "non-default" else None)
    unchecked = validate_all(rendered, KUBE_VERSION)
    assert unchecked == (CRD_KINDS if scenario == "non-default" else set())


def test_manifests_are_valid_at_the_chart_kube_version_floor(render: Render) -> None:
    floor = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    assert floor.startswith(f">={KUBE_FLOOR}"), (
        "KUBE_FLOOR no longer matches Chart.yaml kubeVersion"
    )
    validate_all(render(NON_DEFAULT, kube_version=KUBE_FLOOR), KUBE_FLOOR)


def test_chart_refuses_a_kubernetes_older_than_its_floor(render: Render) -> None:
    rendered = render(kube_version="1.26.0")
    assert rendered.returncode != 0
    assert "kubeVersion" in rendered.stderr


def test_pod_runs_non_root_on_a_read_only_root_filesystem(render: Render) -> None:
    sts = render().one("StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert_restricted(pod, container)
    # Every path the worker writes to is on an emptyDir: the state and cache dirs, and /tmp.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = volumes_of(sts)
    settings = render().one("ConfigMap", "-config")["data"]
    for path in ("/tmp", settings["AIGUILLEUR_STATE_DIR"], settings["AIGUILLEUR_CACHE_DIR"]):
        mount = next(m for p, m in mounts.items() if path == p or path.startswith(p + "/"))
        assert not mount.get("readOnly"), path
        assert "emptyDir" in volumes[mount["name"]], path
    assert "volumeClaimTemplates" not in sts["spec"]


def test_probes_and_services_use_declared_ports(render: Render) -> None:
    rendered = render(NON_DEFAULT)
    sts = rendered.one("StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"web": 8066, "metrics": 9000}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    assert "startupProbe" not in container  # switched off in NON_DEFAULT
    metrics = rendered.one("Service", "aiguilleur")
    assert [(p["name"], p["port"], p["targetPort"]) for p in metrics["spec"]["ports"]] == [
        ("metrics", 9000, "metrics")
    ]
    headless = rendered.one("Service", "-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    for selector in (metrics["spec"]["selector"], headless["spec"]["selector"]):
        assert selector.items() <= pod_labels.items()
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == "50%"


def test_settings_reach_the_worker_as_aiguilleur_variables(render: Render) -> None:
    defaults = render().one("ConfigMap", "-config")["data"]
    expected = {
        "AIGUILLEUR_KAFKA_BOOTSTRAP": "kafka:9092",
        "AIGUILLEUR_APP_ID": "aiguilleur",  # the release's full name
        "AIGUILLEUR_TOPIC_NAMESPACE": "",
        "AIGUILLEUR_CONTROL_PERIOD_S": "300",
        "AIGUILLEUR_PARTITIONS": "4",
        "AIGUILLEUR_STATE_DIR": "/var/lib/aiguilleur/faust",
        "AIGUILLEUR_CACHE_DIR": "/var/lib/aiguilleur/networks",
        "AIGUILLEUR_WEB_PORT": "6066",
        "AIGUILLEUR_METRICS_PORT": "9464",
    }
    assert {k: defaults.get(k) for k in expected} == expected
    # No data source configured: the file variables are left unset rather than set to missing paths.
    assert "AIGUILLEUR_NETWORK_FILE" not in defaults

    custom = render(NON_DEFAULT).one("ConfigMap", "-config")["data"]
    expected = {
        "AIGUILLEUR_KAFKA_BOOTSTRAP": "kafka-0.kafka:9093,kafka-1.kafka:9093",
        "AIGUILLEUR_APP_ID": "aiguilleur-lyon",
        "AIGUILLEUR_TOPIC_NAMESPACE": "lyon",
        "AIGUILLEUR_CONTROL_PERIOD_S": "120",
        "AIGUILLEUR_PARTITIONS": "12",
        "AIGUILLEUR_LOG_LEVEL": "debug",
        "AIGUILLEUR_EXTRA": "1",
        "AIGUILLEUR_NETWORK_FILE": "/etc/aiguilleur/data/network.osm",
        "AIGUILLEUR_DETECTOR_REGISTRY": "/etc/aiguilleur/data/detectors.csv",
    }
    assert {k: custom.get(k) for k in expected} == expected


def test_app_id_follows_the_release_so_two_communes_never_share_a_group(render: Render) -> None:
    lyon = render(release="lyon").one("ConfigMap", "-config")["data"]["AIGUILLEUR_APP_ID"]
    grenoble = render(release="grenoble").one("ConfigMap", "-config")["data"]["AIGUILLEUR_APP_ID"]
    assert lyon != grenoble


def test_non_default_values_reach_the_statefulset(render: Render) -> None:
    rendered = render(NON_DEFAULT)
    sts = rendered.one("StatefulSet")
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert pod["containers"][0]["image"] == "registry.example.org/aiguilleur:1.2.3"
    # Persistence: one claim per replica, mounted on the state dir, no emptyDir in its place.
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "state"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert "state" not in volumes_of(sts)
    # Data from the operator's own volume.
    assert volumes_of(sts)["data"]["persistentVolumeClaim"]["claimName"] == "osm-lyon"
    # SASL from the existing Secret: the chart makes none.
    env = env_of(sts)
    user_ref = env["AIGUILLEUR_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"]
    password_ref = env["AIGUILLEUR_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert user_ref == {"name": "kafka-lyon-sasl", "key": "user"}
    assert password_ref == {"name": "kafka-lyon-sasl", "key": "password"}
    assert "Secret" not in rendered.kinds()
    # The mechanism, and the private CA mounted read-only where AIGUILLEUR_KAFKA_SSL_CAFILE points.
    config = rendered.one("ConfigMap", "-config")["data"]
    assert config["AIGUILLEUR_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-256"
    assert config["AIGUILLEUR_KAFKA_SSL_CAFILE"] == "/etc/aiguilleur/kafka-ca/ca.pem"
    assert volumes_of(sts)["kafka-ca"]["secret"] == {
        "secretName": "kafka-lyon-ca",
        "items": [{"key": "ca.pem", "path": "ca.pem"}],
    }
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "kafka-ca"]
    assert mount == {"name": "kafka-ca", "mountPath": "/etc/aiguilleur/kafka-ca", "readOnly": True}


def test_sasl_credentials_become_a_secret_and_stay_out_of_the_configmap(render: Render) -> None:
    rendered = render({"sasl": {"enabled": True, "username": "lyon", "password": "s3cr3t"}})
    secret = rendered.one("Secret")
    assert base64.b64decode(secret["data"]["password"]).decode() == "s3cr3t"
    assert base64.b64decode(secret["data"]["username"]).decode() == "lyon"
    ref = env_of(rendered.one("StatefulSet"))["AIGUILLEUR_KAFKA_SASL_PASSWORD"]["valueFrom"]
    assert ref["secretKeyRef"]["name"] == secret["metadata"]["name"]
    config = rendered.one("ConfigMap", "-config")
    assert "s3cr3t" not in yaml.safe_dump(config)


def test_sasl_without_password_or_existing_secret_fails(render: Render) -> None:
    rendered = render({"sasl": {"enabled": True, "username": "lyon"}})
    assert rendered.returncode != 0
    assert "sasl.password is required" in rendered.stderr


def test_config_change_rolls_the_pods(render: Render) -> None:
    def checksum(level: str) -> str:
        sts = render({"config": {"logLevel": level}}).one("StatefulSet")
        return sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum("info") != checksum("debug")


def test_small_data_files_ship_in_a_configmap(render: Render, tmp_path: Path) -> None:
    network = tmp_path / "network.osm"
    network.write_text("<osm version='0.6'><node id='1' lat='45.76' lon='4.83'/></osm>\n")
    detectors = tmp_path / "detectors.csv"
    detectors.write_text("detector_id,edge_id,lane\nD1,e1,0\n")
    rendered = render(
        set_files={"data.files.network\\.osm": network, "data.files.detectors\\.csv": detectors}
    )
    data = rendered.one("ConfigMap", "-data")["data"]
    assert data["network.osm"] == network.read_text()
    assert data["detectors.csv"] == detectors.read_text()
    volume = volumes_of(rendered.one("StatefulSet"))["data"]
    assert volume["configMap"]["name"] == rendered.one("ConfigMap", "-data")["metadata"]["name"]
    validate_all(rendered, KUBE_VERSION)


def test_a_network_file_too_big_for_a_configmap_is_refused(render: Render, tmp_path: Path) -> None:
    network = tmp_path / "network.osm"
    network.write_text("<osm>" + "x" * 1_100_000 + "</osm>")
    detectors = tmp_path / "detectors.csv"
    detectors.write_text("detector_id\n")
    rendered = render(
        set_files={"data.files.network\\.osm": network, "data.files.detectors\\.csv": detectors}
    )
    assert rendered.returncode != 0
    assert "data.volume" in rendered.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"image": {"repository": ""}, "config": {"kafkaBootstrap": "k:9092"}},
            "image.repository is required",
        ),
        ({"image": {"repository": "r.example.org/a"}}, "config.kafkaBootstrap is required"),
    ],
)
def test_required_values_fail_with_a_message_naming_them(
    render: Render, values: dict[str, Any], message: str
) -> None:
    rendered = render(values, required=False)
    assert rendered.returncode != 0
    assert message in rendered.stderr


def test_the_default_image_is_the_one_scripts_build_image_sh_builds(render: Render) -> None:
    rendered = render({"config": {"kafkaBootstrap": "k:9092"}}, required=False)
    pod = rendered.one("StatefulSet")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "localhost/aiguilleur:0.1.0"


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"replicaCount": -1}, "replicaCount"),
        ({"replicaCount": "three"}, "replicaCount"),
        ({"replicas": 2}, "replicas"),  # a typo of replicaCount must not pass silently
        ({"config": {"logLevel": "verbose"}}, "logLevel"),
        # The worker's own names are debug|info|warn|error: "warning" would crash it at start-up.
        ({"config": {"logLevel": "warning"}}, "logLevel"),
        ({"config": {"topicNamespace": "Lyon"}}, "topicNamespace"),  # the worker wants lower case
        ({"config": {"controlPeriodSeconds": 10}}, "controlPeriodSeconds"),
        ({"config": {"partitions": 0}}, "partitions"),
        ({"config": {"kafkaBootstrap": "kafka"}}, "kafkaBootstrap"),
        ({"config": {"topicNamespace": "lyon/est"}}, "topicNamespace"),
        ({"config": {"metricsPort": 70000}}, "metricsPort"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        # A variable the chart already sets would be a duplicate key; a password would land in a
        # ConfigMap. (Helm's message names the variable, at a wrong location, for propertyNames.)
        ({"config": {"extraEnv": {"AIGUILLEUR_LOG_LEVEL": "debug"}}}, "AIGUILLEUR_LOG_LEVEL"),
        ({"config": {"extraEnv": {"AIGUILLEUR_KAFKA_SASL_PASSWORD": "x"}}}, "SASL_PASSWORD"),
        ({"sasl": {"mechanism": "GSSAPI"}}, "mechanism"),
        ({"kafkaTls": {"caKey": "../ca.pem"}}, "caKey"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"serviceMonitor": {"interval": "30 seconds"}}, "interval"),
        ({"resources": {"limits": {"memory": "lots"}}}, "memory"),
    ],
)
def test_schema_rejects_bad_values(render: Render, values: dict[str, Any], path: str) -> None:
    rendered = render(values)
    assert rendered.returncode != 0, f"{values} was accepted"
    assert "schema" in rendered.stderr
    assert path in rendered.stderr


def test_helm_lint_passes(helm: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    # More replicas than partitions: lint also renders NOTES.txt, through its warning branch.
    lint_values = merge(NON_DEFAULT, {"image": {"repository": "r.example.org/a"}})
    values.write_text(yaml.safe_dump(merge(lint_values, {"config": {"partitions": 2}})))
    proc = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--values", str(values)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_service_monitor_scrapes_the_metrics_service(render: Render) -> None:
    rendered = render(NON_DEFAULT, namespace="lyon")
    monitor = rendered.one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prom"
    service = rendered.one("Service", "aiguilleur")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["lyon"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"


def _rule_spec(rendered: Rendered) -> dict[str, Any]:
    rule = rendered.one("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    return rule["spec"]


def test_prometheus_rule_carries_every_alert_scoped_to_the_release(render: Render) -> None:
    promql_parser = pytest.importorskip(
        "promql_parser", reason="promql-parser missing: run scripts/install_ops_tools.sh"
    )
    spec = _rule_spec(render(NON_DEFAULT, release="lyon", namespace="lyon-ns"))
    source = yaml.safe_load(RULES.read_text())
    alerts = [r for g in spec["groups"] for r in g["rules"]]
    assert [r["alert"] for r in alerts] == [
        r["alert"] for g in source["groups"] for r in g["rules"]
    ]
    for alert in alerts:
        selectors: list[Any] = []
        promql_parser.walk(
            promql_parser.parse(alert["expr"]),
            lambda node, found=selectors: (
                found.append(node) if isinstance(node, promql_parser.VectorSelector) else None
            ),
        )
        assert selectors, alert["alert"]
        for selector in selectors:
            matchers = str(selector.matchers)
            assert 'job="lyon-aiguilleur"' in matchers, (alert["alert"], matchers)
            assert 'namespace="lyon-ns"' in matchers, (alert["alert"], matchers)
        url = alert["annotations"]["runbook_url"]
        assert url == f"https://ops.example.org/runbooks/{alert['alert']}.md"


def test_prometheus_rule_passes_promtool(render: Render, promtool: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(_rule_spec(render(NON_DEFAULT))))
    proc = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_packaged_chart_keeps_the_linked_rules(helm: str, tmp_path: Path) -> None:
    # files/prometheus-rules.yml links to deploy/prometheus/rules.yml: the packaged chart must hold
    # its content, or a release installed from the package would have an empty PrometheusRule.
    subprocess.run(
        [helm, "package", str(CHART), "--destination", str(tmp_path)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    (package,) = tmp_path.glob("aiguilleur-*.tgz")
    proc = subprocess.run(
        [
            *(helm, "template", "r", str(package), "--kube-version", KUBE_VERSION),
            *("--set", "image.repository=r.example.org/a,config.kafkaBootstrap=k:9092"),
            *("--set", "prometheusRule.enabled=true"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    (rule,) = [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "PrometheusRule"]
    assert len([r for g in rule["spec"]["groups"] for r in g["rules"]]) == len(
        [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    )
