"""``rules anomalies``: trends, score, heatmap, summary (README "Anomaly intelligence")."""

from __future__ import annotations

import click


@click.group()
def anomalies() -> None:
    """Anomaly intelligence over the audit log: trends, risk score, heatmap, executive summary.

    Example: rules anomalies summary --format html --out report.html
    """
