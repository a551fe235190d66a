"""The provisioned Grafana dashboard parses and shows only real metrics."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.ops.support import BACKUP_METRIC, OPS, exported_sample_names, metric_names_in

GRAFANA = OPS / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "seatline.json"


def dashboard_targets() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target for panel in dashboard["panels"] for target in panel["targets"]]


def test_dashboard_parses_with_unique_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["uid"] == "seatline-overview"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["targets"] for panel in dashboard["panels"])


def test_dashboard_refers_only_to_exported_metrics() -> None:
    known = exported_sample_names() | {BACKUP_METRIC, "up"}
    used: set[str] = set()

    for target in dashboard_targets():
        names = metric_names_in(target["expr"])
        assert names, f"no metric in {target['expr']}"
        assert names <= known, f"unknown metrics {names - known} in {target['expr']}"
        used |= names

    # Every booking outcome and the fan-out metrics have a panel.
    for name in (
        "seatline_holds_total",
        "seatline_hold_conflicts_total",
        "seatline_orders_total",
        "seatline_payments_total",
        "seatline_refunds_total",
        "seatline_fanout_delivery_lag_seconds_bucket",
        "seatline_db_pool_connections_in_use",
    ):
        assert name in used


def test_provisioning_points_at_dashboard_and_datasource() -> None:
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "seatline.yml").read_text()
    )
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uids = {source["uid"] for source in datasources["datasources"]}

    assert providers["providers"][0]["type"] == "file"
    for target in dashboard_targets():
        assert target["datasource"]["uid"] in uids
