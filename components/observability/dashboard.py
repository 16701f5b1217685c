"""The stack's Cloud Monitoring dashboard (its REST JSON), two charts a row, in the order the workloads publish them.
Plain data, so tests read it without an engine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pulumi

from components.observability.signals import Chart

COLUMNS, WIDTH, HEIGHT = 12, 6, 4


def chart_json(chart: Chart) -> dict[str, Any]:
    aggregation: dict[str, Any] = {
        "alignmentPeriod": "60s",
        "perSeriesAligner": chart.aligner,
        "crossSeriesReducer": chart.reducer,
    }
    if chart.group_by:
        aggregation["groupByFields"] = list(chart.group_by)
    return {
        "title": chart.title,
        "xyChart": {
            "dataSets": [
                {
                    "plotType": "LINE",
                    "timeSeriesQuery": {"timeSeriesFilter": {"filter": chart.filter, "aggregation": aggregation}},
                }
            ]
        },
    }


def dashboard_document(display_name: str, charts: Sequence[Chart]) -> dict[str, Any]:
    """The dashboard for charts whose filters are resolved strings."""
    tiles = [
        {"xPos": (i % 2) * WIDTH, "yPos": (i // 2) * HEIGHT, "width": WIDTH, "height": HEIGHT, "widget": chart_json(c)}
        for i, c in enumerate(charts)
    ]
    return {"displayName": display_name, "mosaicLayout": {"columns": COLUMNS, "tiles": tiles}}


def dashboard_json(display_name: str, charts: Sequence[Chart]) -> pulumi.Output[str]:
    """The dashboard as JSON once every chart's filter is known."""
    filters = [pulumi.Output.from_input(c.filter) for c in charts]
    return pulumi.Output.all(*filters).apply(
        lambda resolved: json.dumps(
            dashboard_document(display_name, [replace(c, filter=f) for c, f in zip(charts, resolved, strict=True)]),
            sort_keys=True,
        )
    )
