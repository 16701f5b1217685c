"""Serving from more than one region: the regions besides the stack's own where every Cloud Run service runs a copy
behind the global load balancer (one backend service per service, a serverless NEG per region), and what a region loss
then costs, as recovery objectives computed from the config.

Cloud Run service health takes a region out of the load balancer's rotation when fewer than 60 % of its instances pass
their readiness probes, and brings it back when they pass again; it needs at least one minimum instance per region.
The data tier stays primary-in-one-region: Cloud SQL's cross-region replica is promoted by hand, and Memorystore is
lost with its region (docs/operations/backup-recovery.md, "Losing a region").
"""

from __future__ import annotations

from typing import Any

from components.config_types import Key, Model, Region

# Losing the database's region, step by step: the alerts fire and on-call decides to fail over (the replica lag alert
# and the services' 5xx alerts fire within five minutes), `gcloud sql instances promote-replica` turns the
# cross-region replica into a primary (minutes for the stacks' sizes), and every service is pointed at it (a new
# revision per service). Estimates for the runbook, not measurements: a rehearsal proves them.
DETECT_AND_DECIDE_MINUTES = 15
PROMOTE_MINUTES = 15
REPOINT_MINUTES = 15
# Without a copy of the services in the surviving region, they are deployed there first: a `pulumi up` with the
# region's subnet and services (the plan's deploy-time estimate for Cloud Run and its grants is about this).
REDEPLOY_SERVICES_MINUTES = 30


class ServingRegionArgs(Model):
    """One more region every Cloud Run service of the stack runs in."""

    serverless_subnet: Key  # the network.subnets entry, in this region, that Direct VPC egress takes addresses from


class ServingArgs(Model):
    """`platform:serving`: the regions besides `gcp.region` the services also run in; empty (the default) serves from
    the stack's region alone."""

    regions: dict[Region, ServingRegionArgs] = {}

    def all_regions(self, primary: str) -> list[str]:
        """The stack's region first, then the others in the order the stack file lists them."""
        return [primary, *(region for region in self.regions if region != primary)]


def region_loss_objectives(
    *,
    serving_regions: list[str],
    database_region: str,
    dr_replica_regions: list[str],
    redis_export_hours: int | None,
) -> dict[str, Any]:
    """What losing the database's region (the stack's) costs: how long until the platform takes writes again, and how
    much of Redis is lost.

    - region_loss_rto_minutes: with a cross-region replica of the database in a region that still serves, detection,
      promotion and pointing the services at it; where no service runs in the replica's region, deploying them there
      first; None without a cross-region replica (a restore from the exports, timed by a rehearsal).
    - redis_region_loss_rpo_minutes: Memorystore for Redis has no cross-region replica; what survives is the last RDB
      export in the DR bucket, as far apart as exports can be.
    """
    survivors = [region for region in dr_replica_regions if region != database_region]
    steps = DETECT_AND_DECIDE_MINUTES + PROMOTE_MINUTES + REPOINT_MINUTES
    rto: int | None
    if any(region in serving_regions for region in survivors):
        rto = steps
        basis = (
            "the load balancer stops sending requests to the lost region on its own; writes fail until the "
            "cross-region replica is promoted and the services in the surviving region are pointed at it"
        )
    elif survivors:
        rto = steps + REDEPLOY_SERVICES_MINUTES
        basis = (
            "the services run in the lost region only: they are deployed in the replica's region, the replica is "
            "promoted and the services pointed at it"
        )
    else:
        rto = None
        basis = "no cross-region replica: the database is restored from its exports (time it in a rehearsal)"
    return {
        "serving_regions": list(serving_regions),
        "region_loss_rto_minutes": rto,
        "region_loss_rto_basis": basis,
        "redis_region_loss_rpo_minutes": redis_export_hours * 60 if redis_export_hours is not None else None,
        "redis_region_loss_basis": "Memorystore for Redis is lost with its region; the last RDB export in the DR "
        "bucket restores into a new instance",
    }
