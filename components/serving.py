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
# Memorystore has no cross-region replica: services that use Redis need a new instance in the surviving region (the
# plan's create-time estimate for a STANDARD_HA instance is 10 minutes), its AUTH string in their secret, and a new
# revision (within the repointing step).
REDIS_RECREATE_MINUTES = 10
# What the computed RTO leaves out, said with it: the image repository is regional (a new revision imports its image
# from the lost region unless a release was pushed to another), and with CMEK the event bus stores messages only in
# the stack's region (publishing fails until its topics are recreated elsewhere).
RTO_EXCLUDES = (
    "excluding a release in another region's repository, if new revisions must import images, and the event bus "
    "(regional under CMEK)"
)


class ServingRegionArgs(Model):
    """One more region every Cloud Run service of the stack runs in."""

    serverless_subnet: Key  # the network.subnets entry, in this region, that Direct VPC egress takes addresses from
    # The first of the two `pulumi up`s that retire the region (docs/traffic.md): its NEGs leave the load balancer and
    # its copies of the services lose their deletion protection, so that the second, without the region, can delete
    # them. Cloud Run does not report a deleted service unhealthy, so the NEGs go first.
    retiring: bool = False


class ServingArgs(Model):
    """`platform:serving`: the regions besides `gcp.region` the services also run in; empty (the default) serves from
    the stack's region alone."""

    regions: dict[Region, ServingRegionArgs] = {}

    def retiring(self) -> list[str]:
        """The regions on their way out: still running the services, no longer behind the load balancer."""
        return [region for region, args in self.regions.items() if args.retiring]

    def all_regions(self, primary: str) -> list[str]:
        """The stack's region first, then the others in the order the stack file lists them."""
        return [primary, *(region for region in self.regions if region != primary)]


def region_loss_objectives(
    *,
    serving_regions: list[str],
    database_region: str,
    dr_replica_regions: list[str],
    redis_export_hours: int | None,
    cloud_run: bool = True,
    uses_redis: bool = False,
) -> dict[str, Any]:
    """What losing the database's region (the stack's) costs: how long until the platform takes writes again, and how
    much of Redis is lost.

    - region_loss_rto_minutes: with a cross-region replica of the database in a region that still serves, detection,
      promotion and pointing the services at it; where no service runs in the replica's region, deploying them there
      first; None without a cross-region replica (a restore from the exports, timed by a rehearsal), and None where
      the workloads are not Cloud Run services (a GKE cluster rebuilt in another region is not a step this program
      can estimate). With `uses_redis`, a new Memorystore instance in the surviving region is counted.
    - redis_region_loss_rpo_minutes: Memorystore for Redis has no cross-region replica; what survives is the last RDB
      export in the DR bucket, as far apart as exports can be.
    """
    survivors = [region for region in dr_replica_regions if region != database_region]
    steps = (
        DETECT_AND_DECIDE_MINUTES + PROMOTE_MINUTES + REPOINT_MINUTES + (REDIS_RECREATE_MINUTES if uses_redis else 0)
    )
    rto: int | None
    if not cloud_run:
        rto = None
        basis = (
            "not computed: the workloads run on a regional GKE cluster, which a region loss takes with it; rebuilding "
            "the cluster, its pools and tools in another region is a rehearsal's figure"
        )
    elif any(region in serving_regions for region in survivors):
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
    if rto is not None:
        basis += (
            ("; a new Memorystore instance for the services that use Redis" if uses_redis else "") + "; " + RTO_EXCLUDES
        )
    return {
        "serving_regions": list(serving_regions),
        "region_loss_rto_minutes": rto,
        "region_loss_rto_basis": basis,
        "redis_region_loss_rpo_minutes": redis_export_hours * 60 if redis_export_hours is not None else None,
        "redis_region_loss_basis": "Memorystore for Redis is lost with its region; the last RDB export in the DR "
        "bucket restores into a new instance",
    }
