"""deploy/kubernetes: checked offline against the app and the image (no cluster runs here).

What a cluster would reject or misroute is checked against its source of truth: each setting
against the Settings class, the probe paths against the app's routes, the ports, user and image
name against nix/image.nix, the selectors against the pod labels.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from server import create_app
from server.config import BOOTSTRAP_VARS, Settings, secrets_dir

from support.settings import make_settings

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "kubernetes"
if not (BASE / "kustomization.yaml").exists() or not (ROOT / "nix" / "image.nix").exists():
    # The Nix build's source holds server/ and tests/ only (nix/package.nix's fileset).
    pytest.skip(
        "deploy/kubernetes or nix/image.nix not in this source tree", allow_module_level=True
    )
IMAGE_NIX = (ROOT / "nix" / "image.nix").read_text()
KINDS = {
    "ServiceAccount",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
}
DATABASE_URL = "postgresql+psycopg2://x@127.0.0.1:1/x"  # never connected to
SETTINGS = {f"APP_{name.upper()}" for name in Settings.model_fields} | BOOTSTRAP_VARS


def kustomization() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return parsed


def resources() -> dict[str, dict[str, Any]]:
    """The base's resources by kind (one of each)."""
    found: dict[str, dict[str, Any]] = {}
    for name in kustomization()["resources"]:
        for document in yaml.safe_load_all((BASE / name).read_text()):
            assert document["kind"] not in found, f"two {document['kind']}s"
            found[document["kind"]] = document
    return found


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = resources()["Deployment"]["spec"]["template"]["spec"]
    return spec


def containers() -> list[dict[str, Any]]:
    spec = pod_spec()
    return [*spec["initContainers"], *spec["containers"]]


def api_container() -> dict[str, Any]:
    api: dict[str, Any]
    (api,) = pod_spec()["containers"]
    return api


def config_literals() -> dict[str, str]:
    (generator,) = kustomization()["configMapGenerator"]
    return dict(literal.split("=", 1) for literal in generator["literals"])


def image_value(pattern: str) -> str:
    match = re.search(pattern, IMAGE_NIX)
    assert match, f"{pattern!r} not found in nix/image.nix"
    return match.group(1)


def test_every_file_parses_with_the_expected_kinds() -> None:
    assert set(resources()) == KINDS
    on_disk = {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(kustomization()["resources"]), "a manifest is not in the base"


def test_every_variable_is_a_setting() -> None:
    names = set(config_literals())
    for container in containers():
        names |= {variable["name"] for variable in container.get("env", [])}
    assert names, "no settings found: the check would pass vacuously"
    assert names <= SETTINGS, names - SETTINGS
    # The values must pass the Settings' own validation (a typo in a number or URL fails here).
    values = {name.removeprefix("APP_").lower(): v for name, v in config_literals().items()}
    make_settings(DATABASE_URL, values.pop("redis_url"), **values)


def test_bodies_the_workers_may_hold_fit_the_memory_limit() -> None:
    """APP_BODY_MEMORY is per worker: at the default (512 MiB) two workers could hold 1 GiB of
    request bodies under a flood, in a container the kubelet kills at 512Mi. The bodies get at
    most half the limit; the rest is the app's."""
    limit = api_container()["resources"]["limits"]["memory"]
    assert limit.endswith("Mi"), limit
    settings = make_settings(
        DATABASE_URL,
        "redis://127.0.0.1:1/0",
        **{
            name.removeprefix("APP_").lower(): value
            for name, value in config_literals().items()
            if name in {"APP_WORKERS", "APP_BODY_MEMORY", "APP_MAX_CONTENT_LENGTH"}
        },
    )
    assert settings.workers * settings.body_memory <= int(limit[:-2]) * 1024 * 1024 // 2


def test_configmap_reaches_every_container() -> None:
    (generator,) = kustomization()["configMapGenerator"]
    for container in containers():
        refs = [source["configMapRef"]["name"] for source in container["envFrom"]]
        assert refs == [generator["name"]], container["name"]


def test_probes_use_routes_and_ports_the_app_has() -> None:
    app = create_app(make_settings(DATABASE_URL, "redis://127.0.0.1:1/0"))
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    api = api_container()
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    paths = {}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        http = api[probe]["httpGet"]
        assert http["path"] in routes, http
        assert ports[http["port"]] == image_port(), probe
        paths[probe] = http["path"]
    # Liveness must not depend on the database: an outage would restart every pod.
    assert paths["livenessProbe"] == "/health/live"
    assert paths["readinessProbe"] == "/health/ready"


def test_probes_send_a_trusted_host() -> None:
    """The kubelet's default Host is the pod IP, which APP_TRUSTED_HOSTS would answer with 400."""
    trusted = config_literals()["APP_TRUSTED_HOSTS"].split(",")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        headers = {h["name"]: h["value"] for h in api_container()[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] in trusted, probe


def image_port() -> int:
    bind_port = int(image_value(r'"APP_BIND=[^"]*:(\d+)"'))
    assert int(image_value(r'ExposedPorts\."(\d+)/tcp"')) == bind_port
    return bind_port


def test_metrics_port_matches_the_metrics_bind() -> None:
    ports = {port["name"]: port["containerPort"] for port in api_container()["ports"]}
    metrics_port = int(config_literals()["APP_METRICS_BIND"].rpartition(":")[2])
    assert ports["metrics"] == metrics_port
    assert config_literals()["APP_METRICS_ENABLED"] == "true"


def test_image_name_tag_and_user_match_the_nix_image() -> None:
    (image,) = kustomization()["images"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert image_value(r'name = "([^"]+)";') == image["name"] == image["newName"]
    assert "tag = flask-nix-stack.version;" in IMAGE_NIX
    assert image["newTag"] == version
    assert {c["image"] for c in containers()} == {image["name"]}
    security = pod_spec()["securityContext"]
    uid, gid = int(image_value(r"uid = (\d+);")), int(image_value(r"gid = (\d+);"))
    assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    assert security["runAsNonRoot"] is True


def test_hardened_containers() -> None:
    for container in containers():
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
        assert security["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "memory" in container["resources"]["limits"], container["name"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        # Read-only root: gunicorn's heartbeat files and the metrics files need a writable /tmp.
        assert "/tmp" in mounts, container["name"]
        assert mounts["/run/secrets"] == "secrets", container["name"]
    assert pod_spec()["automountServiceAccountToken"] is False
    assert len(pod_spec()["topologySpreadConstraints"]) >= 1


def test_secrets_are_mounted_where_the_app_reads_them() -> None:
    volumes = {volume["name"]: volume for volume in pod_spec()["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"]
    assert '"/run/secrets"' in inspect.getsource(secrets_dir)
    assert secrets_dir({}) in (None, Path("/run/secrets"))


def test_stop_outlasts_the_graceful_timeout() -> None:
    spec = pod_spec()
    pause = api_container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = Settings.model_fields["graceful_timeout"].default
    assert spec["terminationGracePeriodSeconds"] > graceful + pause


@pytest.mark.parametrize("kind", ["Service", "PodDisruptionBudget", "NetworkPolicy"])
def test_selectors_match_the_pods(kind: str) -> None:
    labels = resources()["Deployment"]["spec"]["template"]["metadata"]["labels"]
    spec = resources()[kind]["spec"]
    selector = spec.get("selector") or spec["podSelector"]
    selector = selector.get("matchLabels", selector)
    assert selector, kind
    assert selector.items() <= labels.items(), kind


def test_autoscaler_and_rollout_keep_capacity() -> None:
    found = resources()
    deployment = found["Deployment"]
    target = found["HorizontalPodAutoscaler"]["spec"]
    assert target["scaleTargetRef"]["kind"] == "Deployment"
    assert target["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert target["minReplicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    service_ports = {p["name"]: p["targetPort"] for p in found["Service"]["spec"]["ports"]}
    container_ports = {p["name"] for p in api_container()["ports"]}
    assert set(service_ports.values()) <= container_ports
    policy = found["NetworkPolicy"]["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    metrics_rule = next(
        rule for rule in policy["ingress"] if {"port": "metrics"} in rule.get("ports", [])
    )
    assert metrics_rule["from"], "the metrics port must not be open to every pod"


def test_kustomize_builds_the_base() -> None:
    """Where kustomize is installed, the base renders: generated ConfigMap name wired into every
    container, the image set, the labels in every selector."""
    kustomize = shutil.which("kustomize")
    if kustomize is None:
        if os.environ.get("CI"):
            pytest.fail("kustomize is not on PATH (script/bootstrap test builds it)")
        pytest.skip("kustomize not on PATH (script/bootstrap test builds it)")
    rendered = subprocess.run(
        [kustomize, "build", str(BASE)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    documents = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered)}
    assert set(documents) == KINDS | {"ConfigMap"}
    config_map = documents["ConfigMap"]["metadata"]["name"]
    assert config_map.startswith("flask-nix-stack-"), "no content hash: rollouts would not follow"
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["envFrom"] == [{"configMapRef": {"name": config_map}}]
        assert container["image"] == f"flask-nix-stack:{version}"
    labels = documents["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "flask-nix-stack"
    assert documents["Service"]["spec"]["selector"].items() <= labels.items()
    assert documents["Deployment"]["spec"]["selector"]["matchLabels"] == labels
