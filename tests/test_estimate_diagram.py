"""The architecture picture: components as nodes labelled with their settings, "uses" edges between them."""

from __future__ import annotations

from offline.estimate import diagram
from tests.conftest import program_of
from tests.records import Builder


def _platform() -> diagram.Diagram:
    b = Builder()
    apis = b.component("ProjectServices", "apis")
    api = b.add("gcp:projects/service:Service", "apis-run", {"service": "run.googleapis.com"}, parent=apis)
    net = b.component("Network", "network")
    vpc = b.add("gcp:compute/network:Network", "network-vpc", parent=net, needs=(api,))
    db = b.component("Database", "database")
    sql = b.add(
        "gcp:sql/databaseInstance:DatabaseInstance",
        "database-primary",
        {"databaseVersion": "POSTGRES_15", "settings": {"tier": "db-custom-2-7680", "availabilityType": "REGIONAL"}},
        parent=db,
        needs=(vpc,),
    )
    cache = b.component("Cache", "cache")
    redis = b.add(
        "gcp:redis/instance:Instance", "cache-redis", {"tier": "STANDARD_HA", "memorySizeGb": 5}, parent=cache,
        needs=(vpc,),
    )  # fmt: skip
    services = b.component("Services", "services")
    run = b.add(
        "gcp:cloudrunv2/service:Service", "services-api", {"name": "acme-prod-api"}, parent=services,
        needs=(sql, redis, api),
    )  # fmt: skip
    lb = b.component("LoadBalancer", "lb")
    b.add("gcp:compute/globalForwardingRule:GlobalForwardingRule", "lb-https", parent=lb, needs=(run,))
    b.add("gcp:compute/securityPolicy:SecurityPolicy", "lb-armor", parent=lb)
    edge = b.component("Edge", "edge")
    b.add("cloudflare:index/dnsRecord:DnsRecord", "edge-www", {"proxied": True}, parent=edge)
    watch = b.component("Observability", "observability")
    b.add("gcp:monitoring/alertPolicy:AlertPolicy", "observability-5xx", parent=watch, needs=(run,))
    b.add("gcp:monitoring/alertPolicy:AlertPolicy", "observability-latency", parent=watch, needs=(run,))
    return diagram.build("test", b.recording)


def test_components_are_nodes_labelled_with_their_settings() -> None:
    nodes = {n.id: n for n in _platform().nodes}
    assert set(nodes) == {"network", "database", "cache", "services", "lb", "edge", "observability"}
    assert nodes["database"].details == ("Cloud SQL PostgreSQL 15, REGIONAL, db-custom-2-7680",)
    assert nodes["cache"].details == ("Memorystore Redis STANDARD_HA 5 GB",)
    assert nodes["lb"].details == ("global HTTPS load balancer", "Cloud Armor")
    assert nodes["observability"].details == ("2 x alerts",)


def test_edges_follow_dependencies_and_cloudflare_points_at_the_load_balancer() -> None:
    edges = set(_platform().edges)
    assert edges == {
        ("database", "network"),
        ("cache", "network"),
        ("services", "database"),
        ("services", "cache"),
        ("lb", "services"),
        ("observability", "services"),
        ("edge", "lb"),
    }


def test_the_mermaid_and_dot_pictures_hold_every_node_and_edge() -> None:
    picture = _platform()
    mermaid, dot = picture.mermaid(), picture.dot()
    assert mermaid.startswith("flowchart LR\n")
    assert '  lb["<b>LoadBalancer lb</b><br/>global HTTPS load balancer<br/>Cloud Armor"]' in mermaid
    assert '  database["<b>Database</b><br/>Cloud SQL PostgreSQL 15, REGIONAL, db-custom-2-7680"]' in mermaid
    assert "  edge --> lb" in mermaid
    assert "  edge -> lb;" in dot
    assert dot.startswith('digraph "test" {')


def test_the_committed_architecture_document_matches_the_prod_program() -> None:
    assert diagram.DOC.read_text() == diagram.document(program_of(diagram.DOC_STACK)), "run `make diagrams`"
