"""Prometheus scrape config and alerting rules, checked by promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.support import (
    BACKUP_METRIC,
    OPS,
    ROOT,
    exported_sample_names,
    metric_names_in,
    require_tool,
)

RULES = OPS / "prometheus" / "rules" / "seatline.rules.yml"
RULE_TESTS = OPS / "prometheus" / "tests" / "seatline.rules.test.yml"
CONFIG = OPS / "prometheus" / "prometheus.yml"


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=60,
    )


def test_promtool_check_config(tmp_path: Path) -> None:
    # The config names the rules by their path inside the container.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / RULES.name).write_text(RULES.read_text())
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG.read_text().replace("/etc/prometheus/rules", str(rules)))

    result = promtool("check", "config", str(config))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES))

    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_rules_use_exported_metrics() -> None:
    known = exported_sample_names() | {BACKUP_METRIC, "up"}

    for rule in alert_rules():
        unknown = metric_names_in(str(rule["expr"])) - known
        assert unknown == set(), f"{rule['alert']} uses unknown metrics {unknown}"


def test_every_alert_has_a_unit_test() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }

    for rule in alert_rules():
        assert rule["alert"] in tested, f"no test makes {rule['alert']} fire"


@pytest.mark.parametrize(
    "alert",
    [
        "SeatlineHighLatencyP99",
        "SeatlineHttpErrorRate",
        "SeatlineHoldConflictSurge",
        "SeatlinePaymentFailures",
        "SeatlineDatabaseDown",
        "SeatlineRedisDown",
        "SeatlineSubscriptionLag",
        "SeatlineDbPoolSaturated",
        "SeatlineFullBackupTooOld",
    ],
)
def test_required_alert_defined(alert: str) -> None:
    assert alert in {rule["alert"] for rule in alert_rules()}


def test_runbook_links_resolve() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", runbook, re.MULTILINE)
    }

    for rule in alert_rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        path, _, anchor = annotations["runbook"].partition("#")
        assert path == "docs/operations.md"
        assert anchor in anchors, f"{rule['alert']} links to a missing section"
