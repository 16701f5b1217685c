"""The event bus as the engine would receive it: order events published by orders only, pushed to analytics with a
token of an account that may invoke analytics only, written into the warehouse, retried with backoff and
dead-lettered where the Pub/Sub agent may forward them and the dead letters are kept; alerts on backlog and dead
letters; and one line naming the key for each wiring mistake."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlparse

import pulumi
import pytest
import yaml

import stack_config
from components.context import StackContext
from components.events import EventBus, EventsArgs
from components.refs import Encryption, ServiceEndpoint, WarehouseTable
from offline.engine import ROOT, Recording, Resource, run
from offline.estimate.report import estimate as stack_estimate
from tests.conftest import STACKS, config_of, context_of, program_of, raw_config
from tests.docs import code_blocks

TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
TOPIC_GRANT = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SUBSCRIPTION_GRANT = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
TABLE_GRANT = "gcp:bigquery/iamMember:IamMember"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
WEEK = 7 * 86_400


def seconds(duration: str) -> int:
    return int(duration.removesuffix("s"))


def physical(stack: str, *parts: str) -> str:
    return config_of(stack).naming(stack).physical(*parts)


def subscription(program: Recording, stack: str, topic: str, key: str) -> Resource:
    return program.one(SUBSCRIPTION, name=physical(stack, topic, key))


def agent(program: Recording) -> str:
    return str(program.named("events-pubsub-agent").outputs["member"])


def configured(stack: str) -> list[tuple[str, str, Any]]:
    events = config_of(stack).events
    assert events is not None
    return events.subscriptions()


# Topics and publishers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_order_events_are_checked_against_the_avro_schema_in_the_repository(stack: str) -> None:
    program = program_of(stack)
    schema = program.named("events-order-events-schema")
    assert schema.inputs["type"] == "AVRO"
    assert schema.inputs["definition"] == (ROOT / "schemas/order_event.avsc").read_text()
    topic = program.one(TOPIC, name=physical(stack, "order-events"))
    assert topic.inputs["schemaSettings"] == {"schema": schema.outputs["id"], "encoding": "JSON"}


@pytest.mark.parametrize("stack", STACKS)
def test_only_orders_may_publish_order_events_and_only_there(stack: str) -> None:
    program = program_of(stack)
    orders = program.outputs["service_accounts"]["orders"]
    publishers = [g for g in program.of(TOPIC_GRANT) if g.inputs["role"] == "roles/pubsub.publisher"]
    # Google's own agents publish too: Pub/Sub's dead letters, Secret Manager's rotation notices (app secrets).
    by_services = [(g.inputs["topic"], g.inputs["member"]) for g in publishers if "@gcp-sa-" not in g.inputs["member"]]
    assert by_services == [(physical(stack, "order-events"), f"serviceAccount:{orders}")]


# Push to analytics -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_analytics_gets_order_events_by_push_on_events_signed_for_its_url(stack: str) -> None:
    program = program_of(stack)
    push = subscription(program, stack, "order-events", "analytics").inputs["pushConfig"]
    url = program.outputs["service_urls"]["analytics"]
    assert push["pushEndpoint"] == f"{url}/events"
    token = push["oidcToken"]
    assert token["audience"] == url  # Cloud Run accepts ID tokens whose audience is its run.app URL
    assert token["serviceAccountEmail"] == program.outputs["event_push_service_accounts"]["order-events/analytics"]
    assert "noWrapper" not in push  # services/analytics/server.py parses the wrapped format


@pytest.mark.parametrize("stack", STACKS)
def test_the_push_account_may_invoke_analytics_and_nothing_else(stack: str) -> None:
    program = program_of(stack)
    email = program.outputs["event_push_service_accounts"]["order-events/analytics"]
    grants = [r for r in program.resources if r.custom and email in json.dumps(r.inputs.get("member", ""))]
    assert [(g.type, g.inputs["role"], g.inputs["name"]) for g in grants] == [
        (INVOKER, "roles/run.invoker", program.outputs["service_names"]["analytics"])
    ]
    push = subscription(program, stack, "order-events", "analytics")
    assert program.depends_on(push, grants[0])  # no delivery is refused while the grant is still being made


@pytest.mark.parametrize("stack", STACKS)
def test_push_and_bigquery_subscriptions_wait_for_their_grants_to_propagate(stack: str) -> None:
    """Creating a push subscription checks actAs on its account, a BigQuery one that the agent may write the table;
    IAM changes typically take 2 minutes to propagate, and a create checked before then fails."""
    program = program_of(stack)
    checked = [s for s in program.of(SUBSCRIPTION) if "pushConfig" in s.inputs or "bigqueryConfig" in s.inputs]
    assert checked
    for sub in checked:
        (sleep,) = [r for r in program.of("time:index/sleep:Sleep") if r.name == f"{sub.name}-iam-propagation"]
        assert int(sleep.inputs["createDuration"].removesuffix("s")) >= 120
        assert program.depends_on(sub, sleep)
        grants = [g for g in program.children(program.named("events")) if g.name.startswith(f"{sub.name}-")]
        writers = [g for g in grants if g.name.endswith(("-push-invoker", "-push-act-as", "-table-writer"))]
        assert writers
        assert all(program.depends_on(sleep, g) for g in writers)


@pytest.mark.parametrize("stack", STACKS)
def test_pushes_go_to_the_run_app_url_which_admits_pubsub_whatever_the_ingress(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    assert config.services["analytics"].ingress == "internal"
    endpoint = subscription(program, stack, "order-events", "analytics").inputs["pushConfig"]["pushEndpoint"]
    assert str(urlparse(endpoint).hostname).endswith(".run.app")  # a load balancer domain would refuse it


# Retries and dead letters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_subscription_backs_off_and_dead_letters_to_its_own_topic_after_the_configured_attempts(
    stack: str,
) -> None:
    program = program_of(stack)
    subscriptions = configured(stack)
    assert {(t, s) for t, s, _ in subscriptions} == {("order-events", "analytics"), ("order-events", "warehouse")}
    for topic, key, args in subscriptions:
        inputs = subscription(program, stack, topic, key).inputs
        assert inputs["retryPolicy"] == {
            "minimumBackoff": f"{args.retry.minimum_backoff_seconds}s",
            "maximumBackoff": f"{args.retry.maximum_backoff_seconds}s",
        }
        dead_letter_topic = program.one(TOPIC, name=physical(stack, topic, key, "dead-letter"))
        assert inputs["deadLetterPolicy"] == {
            "deadLetterTopic": dead_letter_topic.outputs["id"],
            "maxDeliveryAttempts": args.max_delivery_attempts,
        }


@pytest.mark.parametrize("stack", STACKS)
def test_the_pubsub_agent_may_forward_dead_letters_and_acknowledge_them_at_the_source(stack: str) -> None:
    """Without publisher on the dead-letter topic and subscriber on the source, dead-lettering silently does nothing."""
    program = program_of(stack)
    member = agent(program)
    assert member == f"serviceAccount:{program.outputs['pubsub_service_agent']}"
    assert program.outputs["pubsub_service_agent"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")
    for topic, key, _ in configured(stack):
        program.one(
            TOPIC_GRANT,
            topic=physical(stack, topic, key, "dead-letter"),
            role="roles/pubsub.publisher",
            member=member,
        )
        program.one(
            SUBSCRIPTION_GRANT, subscription=physical(stack, topic, key), role="roles/pubsub.subscriber", member=member
        )


@pytest.mark.parametrize("stack", STACKS)
def test_dead_letters_are_kept_a_week_or_more_by_a_subscription_that_never_expires(stack: str) -> None:
    program = program_of(stack)
    for topic, key, _ in configured(stack):
        name = physical(stack, topic, key, "dead-letter")
        dead_letters = program.one(SUBSCRIPTION, name=name)
        assert dead_letters.inputs["topic"] == program.one(TOPIC, name=name).outputs["id"]
        assert seconds(dead_letters.inputs["messageRetentionDuration"]) >= WEEK
        assert dead_letters.inputs["expirationPolicy"] == {"ttl": ""}
        assert "pushConfig" not in dead_letters.inputs
        assert "bigqueryConfig" not in dead_letters.inputs


@pytest.mark.parametrize("stack", STACKS)
def test_no_subscription_is_deleted_for_being_idle(stack: str) -> None:
    subscriptions = program_of(stack).of(SUBSCRIPTION)
    # The event bus's four, and (with rotating app secrets) the one that keeps rotation notices.
    assert len([s for s in subscriptions if "platform:components:EventBus$" in s.urn]) == 4
    assert all(s.inputs["expirationPolicy"] == {"ttl": ""} for s in subscriptions)


def test_analytics_receives_an_orders_events_in_order() -> None:
    for stack in STACKS:
        assert subscription(program_of(stack), stack, "order-events", "analytics").inputs["enableMessageOrdering"]
        assert not subscription(program_of(stack), stack, "order-events", "warehouse").inputs["enableMessageOrdering"]


# Into the warehouse ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_order_events_land_in_the_warehouse_table_written_by_the_agent_allowed_on_that_table_only(stack: str) -> None:
    program = program_of(stack)
    warehouse = subscription(program, stack, "order-events", "warehouse")
    table = program.outputs["warehouse_tables"]["analytics.order_events"]
    assert warehouse.inputs["bigqueryConfig"] == {
        "table": table,
        "useTableSchema": True,
        "useTopicSchema": False,
        "writeMetadata": True,
        "dropUnknownFields": False,
    }
    project, dataset, table_id = table.split(".")
    grant = program.one(TABLE_GRANT)
    assert (grant.inputs["project"], grant.inputs["datasetId"], grant.inputs["tableId"]) == (project, dataset, table_id)
    assert (grant.inputs["role"], grant.inputs["member"]) == ("roles/bigquery.dataEditor", agent(program))
    assert program.depends_on(warehouse, grant)


# Every grant names one resource ------------------------------------------------------------------------------------


RESOURCE_SCOPED = {
    TOPIC_GRANT: "topic",
    SUBSCRIPTION_GRANT: "subscription",
    TABLE_GRANT: "tableId",
    "gcp:bigquery/datasetIamMember:DatasetIamMember": "datasetId",
    INVOKER: "name",
    "gcp:serviceaccount/iAMMember:IAMMember": "serviceAccountId",  # the deployer's actAs on the push account
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_grant_of_the_event_bus_and_warehouse_names_one_resource_never_the_project(stack: str) -> None:
    program = program_of(stack)
    owned = {program.named("events").urn, program.named("warehouse").urn}
    grants = [r for r in program.resources if r.parent in owned and "role" in r.inputs]
    # publisher, invoker, the deployer's actAs on the push account, 2 x (dead-letter publisher, agent subscriber),
    # table, dataset
    assert len(grants) == 9
    for grant in grants:
        assert grant.type in RESOURCE_SCOPED, f"{grant.name} is a {grant.type}"
        assert grant.inputs[RESOURCE_SCOPED[grant.type]], f"{grant.name} names no resource"
    new_members = {
        agent(program),
        *(f"serviceAccount:{e}" for e in program.outputs["event_push_service_accounts"].values()),
    }
    project_wide = [r.name for r in program.of("gcp:projects/iAMMember:IAMMember") if r.inputs["member"] in new_members]
    assert project_wide == []


# Protection --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_topics_and_subscriptions_are_protected_as_the_stack_says(stack: str) -> None:
    program, protection = program_of(stack), config_of(stack).protection
    for resource in [*program.of(TOPIC), *program.of(SUBSCRIPTION)]:
        if resource.inputs["labels"]["component"] != "events":
            continue
        assert resource.protect is protection.protect, resource.name
        assert resource.inputs["deletionPolicy"] == ("PREVENT" if protection.deletion_protection else "DELETE")


# Encryption --------------------------------------------------------------------------------------------------------


def bus(stack: str, encryption: Encryption) -> Recording:
    config = config_of(stack)
    assert config.events is not None

    def build() -> None:
        ctx: StackContext = context_of(stack)
        EventBus(
            "events",
            config.events,  # type: ignore[arg-type]
            ctx=ctx,
            services={
                name: ServiceEndpoint(
                    name=f"svc-{name}", url=f"https://{name}.a.run.app", service_account_email=f"{name}@x"
                )
                for name in config.services
            },
            tables={"analytics.order_events": WarehouseTable(project=config.gcp.project, dataset_id="d", table_id="t")},
            encryption=encryption,
        )

    return run(build, stack=stack, project_id=config.gcp.project, region=config.gcp.region)


def test_topics_use_the_stacks_pubsub_key_when_it_has_one_and_googles_otherwise() -> None:
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/pubsub"
    with_key = bus("prod", Encryption(keys={"pubsub": key, "bigquery": "other"})).of(TOPIC)
    assert len(with_key) == 3
    assert all(t.inputs["kmsKeyName"] == key for t in with_key)
    assert all("kmsKeyName" not in t.inputs for t in bus("prod", Encryption()).of(TOPIC))


# Alerts ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_backlog_age_and_dead_letters_of_every_subscription_page_with_a_runbook(stack: str) -> None:
    program, events = program_of(stack), config_of(stack).events
    assert events is not None
    for topic, key, args in configured(stack):
        name = physical(stack, topic, key)
        backlog = program.named(f"observability-{topic}-{key}-backlog")
        (condition,) = backlog.inputs["conditions"]
        threshold = condition["conditionThreshold"]
        assert "subscription/oldest_unacked_message_age" in threshold["filter"]
        assert name in threshold["filter"]
        assert threshold["thresholdValue"] == (args.max_backlog_age_seconds or events.alerts.max_backlog_age_seconds)
        (dead_condition,) = program.named(f"observability-{topic}-{key}-dead-letters").inputs["conditions"]
        assert "subscription/dead_letter_message_count" in dead_condition["conditionThreshold"]["filter"]
        assert name in dead_condition["conditionThreshold"]["filter"]
        assert dead_condition["conditionThreshold"]["thresholdValue"] == 0
        expiring = program.named(f"observability-{topic}-{key}-dead-letters-expiring")
        (expiring_condition,) = expiring.inputs["conditions"]
        assert physical(stack, topic, key, "dead-letter") in expiring_condition["conditionThreshold"]["filter"]
        warn = events.dead_letter_retention_days - events.alerts.dead_letter_expiry_warning_days
        assert expiring_condition["conditionThreshold"]["thresholdValue"] == warn * 86_400
        for policy in (backlog, expiring):
            assert "/events.md#" in policy.inputs["documentation"]["links"][0]["url"]


# Cost --------------------------------------------------------------------------------------------------------------


def test_the_bigquery_subscription_is_priced_at_the_export_price_and_dead_letter_topics_as_dead_letters() -> None:
    program = program_of("prod")
    estimate = stack_estimate("prod", program, config_of("prod")).cost
    assert estimate is not None
    lines = {line.resource: line for line in estimate.lines}
    assert lines["events-order-events-warehouse"].price == "pubsub.bigquery_subscription"
    assert lines["events-order-events-warehouse"].quantity == config_of("prod").estimates.pubsub_gib
    assert lines["events-order-events-analytics"].price == "pubsub.throughput"
    dead = lines["events-order-events-analytics-dead-letter"]
    assert (dead.price, dead.quantity) == ("pubsub.throughput", config_of("prod").estimates.dead_letter_gib)


# GKE workloads (bro-ai): the API publishes jobs, the worker pulls them ------------------------------------------------


def test_gke_workloads_publish_and_pull_with_their_own_accounts_on_one_topic_and_subscription() -> None:
    program = program_of("bro-ai")
    accounts = program.outputs["workload_service_accounts"]
    publishers = [g for g in program.of(TOPIC_GRANT) if g.inputs["role"] == "roles/pubsub.publisher"]
    assert {
        (g.inputs["topic"], g.inputs["member"]) for g in publishers if "gcp-sa-pubsub" not in g.inputs["member"]
    } == {(physical("bro-ai", "jobs"), f"serviceAccount:{accounts['api']}")}
    subscribers = [g for g in program.of(SUBSCRIPTION_GRANT) if "gcp-sa-pubsub" not in g.inputs["member"]]
    assert {(g.inputs["subscription"], g.inputs["member"], g.inputs["role"]) for g in subscribers} == {
        (physical("bro-ai", "jobs", "worker"), f"serviceAccount:{accounts['worker']}", "roles/pubsub.subscriber")
    }


def test_what_the_worker_fails_ten_times_waits_in_its_dead_letter_subscription() -> None:
    program = program_of("bro-ai")
    inputs = subscription(program, "bro-ai", "jobs", "worker").inputs
    dead_letters = program.one(TOPIC, name=physical("bro-ai", "jobs", "worker", "dead-letter"))
    assert inputs["deadLetterPolicy"] == {"deadLetterTopic": dead_letters.outputs["id"], "maxDeliveryAttempts": 10}
    assert "pushConfig" not in inputs
    kept = program.one(SUBSCRIPTION, name=physical("bro-ai", "jobs", "worker", "dead-letter"))
    assert seconds(kept.inputs["messageRetentionDuration"]) == 14 * 86_400
    program.one(
        TOPIC_GRANT,
        topic=physical("bro-ai", "jobs", "worker", "dead-letter"),
        role="roles/pubsub.publisher",
        member=agent(program),
    )


def jobs(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["events"]["topics"]["jobs"]  # type: ignore[no-any-return]


def test_a_push_to_a_gke_workload_is_refused_it_has_no_url() -> None:
    def change(r: dict[str, Any]) -> None:
        jobs(r)["subscriptions"]["worker"] = {"push": {"service": "worker"}}

    bad(change, r"subscriptions\.worker\.push\.service: 'worker' is a GKE workload, and push delivers", "bro-ai")


def test_a_publisher_that_is_neither_a_service_nor_a_workload_names_both_lists() -> None:
    bad(
        lambda r: jobs(r).update(publishers=["billing"]),
        r"events\.topics\.jobs\.publishers: 'billing' is neither one of services \(none\) nor of "
        r"gke\.workloads \(api, worker\)",
        "bro-ai",
    )


def test_a_workload_named_like_a_service_is_refused_where_events_name_them() -> None:
    def change(r: dict[str, Any]) -> None:
        r["gke"]["workloads"]["web"] = {"namespace": "bro-ai", "service_account": "web"}
        r["services"] = {"web": {"image": "web:1.0.0"}}

    bad(change, r"gke\.workloads\.web: 'web' is also a Cloud Run service", "bro-ai")


# Docs --------------------------------------------------------------------------------------------------------------


def test_the_documented_section_is_prods() -> None:
    block = next(b for b in code_blocks("docs/events.md") if "platform:events" in b)
    documented = yaml.safe_load("config:\n" + block)["config"]["platform:events"]
    assert EventsArgs.model_validate(documented) == config_of("prod").events


# Config mistakes ---------------------------------------------------------------------------------------------------


def bad(change: Any, match: str, stack: str = "dev") -> None:
    raw = copy.deepcopy(raw_config(stack))
    change(raw)
    with pytest.raises(pulumi.RunError, match=match):
        stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")


def order_events(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["events"]["topics"]["order-events"]  # type: ignore[no-any-return]


def sub(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return order_events(raw)["subscriptions"][key]  # type: ignore[no-any-return]


def test_a_publisher_that_is_not_a_service_names_the_key() -> None:
    bad(
        lambda r: order_events(r).update(publishers=["billing"]),
        r"events\.topics\.order-events\.publishers: 'billing' is not one of services",
    )


def test_a_push_to_a_service_that_does_not_exist_names_the_key() -> None:
    bad(
        lambda r: sub(r, "analytics").update(push={"service": "reports", "path": "/events"}),
        r"events\.topics\.order-events\.subscriptions\.analytics\.push\.service: 'reports' is not one of services",
    )


def test_a_pull_by_a_service_that_does_not_exist_names_the_key() -> None:
    def change(r: dict[str, Any]) -> None:
        sub(r, "analytics").pop("push")
        sub(r, "analytics")["pull"] = {"service": "reports"}

    bad(change, r"subscriptions\.analytics\.pull\.service: 'reports' is not one of services")


def test_a_table_the_warehouse_does_not_define_names_the_key() -> None:
    bad(
        lambda r: sub(r, "warehouse")["bigquery"].update(table="analytics.orders"),
        r"subscriptions\.warehouse\.bigquery\.table: 'analytics\.orders' is not a warehouse table",
    )


def test_a_bigquery_subscription_without_a_warehouse_names_the_key() -> None:
    bad(lambda r: r.pop("warehouse"), r"subscriptions\.warehouse\.bigquery\.table: .*no warehouse section")


def test_a_subscription_of_two_kinds_or_none_names_the_key() -> None:
    bad(
        lambda r: sub(r, "analytics").update(pull={"service": "analytics"}),
        r"subscriptions\.analytics\.push: set exactly one of push, pull or bigquery \(got push, pull\)",
    )
    bad(lambda r: sub(r, "analytics").pop("push"), r"subscriptions\.analytics\.push: set exactly one .*\(got none\)")


def test_fewer_than_five_delivery_attempts_names_the_key() -> None:
    bad(
        lambda r: sub(r, "analytics").update(max_delivery_attempts=3),
        r"subscriptions\.analytics\.max_delivery_attempts: input should be greater than or equal to 5",
    )


def test_a_backoff_whose_minimum_exceeds_its_maximum_names_the_key() -> None:
    bad(
        lambda r: sub(r, "analytics").update(retry={"minimum_backoff_seconds": 60, "maximum_backoff_seconds": 30}),
        r"subscriptions\.analytics\.retry\.maximum_backoff_seconds: 30 is below minimum_backoff_seconds",
    )


def test_dead_letters_kept_under_a_week_names_the_key() -> None:
    bad(
        lambda r: r["events"].update(dead_letter_retention_days=3),
        r"events\.dead_letter_retention_days: input should be greater than or equal to 7",
    )


def test_an_expiry_warning_later_than_the_expiry_names_the_key() -> None:
    bad(
        lambda r: r["events"]["alerts"].update(dead_letter_expiry_warning_days=7),
        r"events\.alerts\.dead_letter_expiry_warning_days: must be below dead_letter_retention_days",
    )


def test_a_topic_without_subscriptions_names_the_key() -> None:
    bad(
        lambda r: order_events(r).update(subscriptions={}),
        r"events\.topics\.order-events\.subscriptions: dictionary should have at least 1 item",
    )


def test_a_schema_file_that_is_missing_or_not_a_schema_names_the_key() -> None:
    bad(
        lambda r: order_events(r).update(schema_file="schemas/missing.avsc"),
        r"events\.topics\.order-events\.schema_file: 'schemas/missing\.avsc' is not a file",
    )
    bad(
        lambda r: order_events(r).update(schema_file="schemas/bigquery/order_events.json"),
        r"order-events\.schema_file: .* is neither Avro \(\.avsc\) nor Protocol Buffers",
    )


def test_schema_from_topic_without_a_topic_schema_names_the_key() -> None:
    def change(r: dict[str, Any]) -> None:
        order_events(r).pop("schema_file")
        sub(r, "warehouse")["bigquery"]["schema_from"] = "topic"

    bad(change, r"subscriptions\.warehouse\.bigquery\.schema_from: schema_from topic needs the topic's schema_file")


def table_without(column: str, tmp: Any) -> str:
    fields = json.loads((ROOT / "schemas/bigquery/order_events.json").read_text())
    path = tmp / "order_events.json"
    path.write_text(json.dumps([f for f in fields if f["name"] != column]))
    return str(path.relative_to(ROOT))


@pytest.fixture
def inside_project() -> Any:
    directory = ROOT / "build" / "test-schemas"
    directory.mkdir(parents=True, exist_ok=True)
    yield directory
    for path in directory.iterdir():
        path.unlink()


def test_a_table_lacking_a_field_of_the_topic_schema_names_the_key(inside_project: Any) -> None:
    schema = table_without("customer_id", inside_project)

    def change(r: dict[str, Any]) -> None:
        r["warehouse"]["datasets"]["analytics"]["tables"]["order_events"]["schema_file"] = schema

    bad(change, r"subscriptions\.warehouse\.bigquery\.table: the topic's schema has fields customer_id that")


def test_a_table_lacking_a_metadata_column_names_the_key(inside_project: Any) -> None:
    schema = table_without("message_id", inside_project)

    def change(r: dict[str, Any]) -> None:
        r["warehouse"]["datasets"]["analytics"]["tables"]["order_events"]["schema_file"] = schema

    bad(change, r"subscriptions\.warehouse\.bigquery\.write_metadata: .* lacks the metadata columns message_id")
