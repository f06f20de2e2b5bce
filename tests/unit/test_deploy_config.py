"""Checks of the deployment files that this machine cannot run (no Docker engine, no cluster).

- deploy/compose.yaml: interpolated with deploy/.env.example the way `docker compose config`
  does, then validated against the Compose Specification JSON schema (vendored by
  check-jsonschema), plus the stack's own rules (healthchecks, secrets gate, volumes).
- deploy/k8s/: every manifest validated against the Kubernetes OpenAPI schemas (strict:
  unknown fields are errors) bundled by kubernetes-validate, plus cross-references.
- deploy/docker/Dockerfile: hadolint, multi-stage, non-root, built from the lock file.
- deploy/docker/check-secrets.sh: refuses the shipped placeholders, accepts real secrets.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
ONE_SHOTS = {"check-secrets", "mosquitto-passwd"}
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    """deploy/.env.example as a dict (commented-out assignments excluded)."""
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name)
        if operator in (":?", "?") and (value is None or (operator == ":?" and value == "")):
            raise KeyError(f"{name}: {argument}")
        if operator == ":-" and not value:
            return argument
        if operator == "-" and value is None:
            return argument
        return value or ""

    if isinstance(node, str):
        return _VARIABLE.sub(substitute, node)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


@pytest.fixture(scope="module")
def compose_raw() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def compose(compose_raw: dict[str, Any]) -> dict[str, Any]:
    interpolated: dict[str, Any] = interpolate(compose_raw, env_example())
    return interpolated


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_every_compose_variable_is_documented_in_env_example() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    used = {m.group(1) for m in _VARIABLE.finditer(text) if m.group(1)}
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (DEPLOY / ".env.example").read_text(), re.M))
    assert used - documented == set()


def test_compose_refuses_to_interpolate_without_the_required_secrets(compose_raw: dict[str, Any]) -> None:
    env = env_example()
    del env["INFLUX_WRITE_PASSWORD"]
    with pytest.raises(KeyError, match="INFLUX_WRITE_PASSWORD"):
        interpolate(compose_raw, env)


def test_every_secret_in_env_example_is_a_placeholder() -> None:
    secrets = {k: v for k, v in env_example().items() if k.endswith(("PASSWORD", "TOKEN", "SECRET"))}
    assert secrets
    assert set(secrets.values()) == {"change-me"}


def test_every_service_waits_for_the_secrets_check(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def upstream(name: str) -> Iterator[str]:
        for dependency in services[name].get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
            yield dependency
            yield from upstream(dependency)

    for name in services:
        if name != "check-secrets":
            assert "check-secrets" in set(upstream(name)), name


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name not in ONE_SHOTS:
            assert service.get("healthcheck", {}).get("test"), name
            assert service.get("restart") == "unless-stopped", name


def test_data_spool_and_dead_letters_live_on_named_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = set(compose["volumes"])
    mounts = {name: dict(v.split(":")[1::-1] for v in s.get("volumes", [])) for name, s in services.items()}
    assert mounts["ingest"]["/var/lib/energy/ingest"] in declared
    assert mounts["influxdb"]["/var/lib/influxdb"] in declared
    assert mounts["mosquitto"]["/mosquitto/data"] in declared
    assert mounts["grafana"]["/var/lib/grafana"] in declared
    assert mounts["grafana"]["/etc/grafana/provisioning"] == "../dashboards/provisioning"
    for name, targets in mounts.items():
        for source in targets.values():
            if source.startswith("./"):  # bind mounts of deploy/ must exist in the repository
                assert (DEPLOY / source).exists(), f"{name}: {source}"
            elif not source.startswith("../"):
                assert source in declared, f"{name}: {source}"


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    images = {name: s["image"] for name, s in compose["services"].items()}
    for name, image in images.items():
        assert ":" in image, name
        assert not image.endswith(":latest"), name
    assert images["influxdb"].startswith("influxdb:1.8")
    assert images["grafana"].startswith("grafana/grafana:11.")


def test_mosquitto_passwd_script_gets_only_what_the_broker_needs(compose: dict[str, Any]) -> None:
    mosquitto = compose["services"]["mosquitto"]
    assert any(v.endswith(":/mosquitto/auth:ro") for v in mosquitto["volumes"])
    assert "1883:1883" in mosquitto["ports"]


def run_check_secrets(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DEPLOY / "docker" / "check-secrets.sh")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_secrets_refuses_the_env_example_with_one_line() -> None:
    result = run_check_secrets(env_example())
    assert result.returncode == 78
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("refusing to start: ")
    assert "change-me" in line
    assert "PASSWORD" in line


def test_check_secrets_refuses_a_placeholder_inside_a_url() -> None:
    result = run_check_secrets({"MQTT_URL": "mqtt://ingest:Change-Me@mosquitto:1883"})
    assert result.returncode == 78
    assert "MQTT_URL" in result.stderr
    assert "Change-Me" not in result.stderr.replace("'change-me'", "")


def test_check_secrets_accepts_real_secrets() -> None:
    env = {k: ("s3cr3t-" + k.lower() if v == "change-me" else v) for k, v in env_example().items()}
    env["MQTT_URL"] = "mqtt://ingest:Zx9-exchange-me@mosquitto:1883"
    result = run_check_secrets(env)
    assert (result.returncode, result.stderr) == (0, "")


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        ["hadolint", "--failure-threshold", "warning", str(DEPLOY / "docker" / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_and_built_from_the_lock_file() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", text, re.M)
    assert len(stages) >= 3
    final = text.split("\nFROM ")[-1]
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", final, re.M))
    user = re.search(r"^USER\s+(\S+)", final, re.M)
    assert user is not None
    uid = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], user.group(1)).split(":")[0]
    assert int(uid) >= 1000
    assert "uv sync --frozen --no-dev" in text
    assert "COPY pyproject.toml uv.lock" in text
    assert 'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]' in final


# --- Kubernetes ------------------------------------------------------------------------------


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    files = sorted([*K8S.glob("*.yaml"), *K8S.glob("variants/*.yaml")])
    return [
        (f"{path.relative_to(K8S)}#{doc['kind']}/{doc['metadata']['name']}", doc)
        for path in files
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(("name", "resource"), k8s_documents(), ids=[n for n, _ in k8s_documents()])
def test_kubernetes_manifest_is_valid_strict(name: str, resource: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(resource, version, strict=True)


def by_kind(kind: str, *, variants: bool = False) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for n, d in k8s_documents()
        if d["kind"] == kind and (variants or not n.startswith("variants/"))
    }


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_referenced_configmaps_and_secrets_exist() -> None:
    configmaps, secrets = set(by_kind("ConfigMap")), set(by_kind("Secret"))
    workloads = {**by_kind("Deployment"), **by_kind("StatefulSet", variants=True)}
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, name
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, name
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, name
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, name


def test_ingest_replicas_share_one_subscription_group_and_have_own_client_ids() -> None:
    config = by_kind("ConfigMap")["energy-config"]["data"]
    assert config["INGEST_SHARED_GROUP"]
    ingest = by_kind("Deployment")["ingest"]
    assert ingest["spec"]["replicas"] >= 2
    (container,) = ingest["spec"]["template"]["spec"]["containers"]
    client_id = next(e for e in container["env"] if e["name"] == "INGEST_CLIENT_ID")
    assert client_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_ingest_probes_use_healthz_and_readyz_on_the_metrics_port() -> None:
    config = by_kind("ConfigMap")["energy-config"]["data"]
    pod = by_kind("Deployment")["ingest"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http-metrics"] == int(config["INGEST_HTTP_PORT"])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["port"] == "http-metrics"
    # The pod must outlive the service's own bounded shutdown (flush, write, ack).
    assert pod["terminationGracePeriodSeconds"] > float(config["INGEST_SHUTDOWN_TIMEOUT_S"])


def test_disruption_budgets_and_services_select_their_pods() -> None:
    deployments = by_kind("Deployment")
    for name, budget in by_kind("PodDisruptionBudget").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    api_service = by_kind("Service")["api"]
    api_labels = deployments["api"]["spec"]["template"]["metadata"]["labels"]
    assert api_service["spec"]["selector"].items() <= api_labels.items()


def test_pods_run_as_non_root_with_read_only_root_filesystems() -> None:
    for name, workload in {**by_kind("Deployment"), **by_kind("StatefulSet", variants=True)}.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_statefulset_variant_runs_the_same_pod_as_the_deployment() -> None:
    deployment = by_kind("Deployment")["ingest"]["spec"]["template"]
    statefulset = by_kind("StatefulSet", variants=True)["ingest"]["spec"]
    assert statefulset["template"]["spec"]["containers"] == deployment["spec"]["containers"]
    spool_claims = [c["metadata"]["name"] for c in statefulset["volumeClaimTemplates"]]
    assert spool_claims == ["spool"]


def test_k8s_placeholder_secrets_are_refused_by_the_entrypoint_check() -> None:
    for name, secret in by_kind("Secret").items():
        env = {k: v for k, v in secret["stringData"].items() if re.fullmatch(r"[A-Z_]+", k)}
        if env:
            assert run_check_secrets(env).returncode == 78, name


def test_the_image_copies_every_package_the_wheel_is_built_from() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    sent = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    assert set(packages["packages"]) - copied == set()
    assert set(packages["packages"]) - sent == set()
