"""The event bus component: Pub/Sub topics with their schemas and publishers, subscriptions that push to a service,
are pulled by one or write into the warehouse, and for each subscription a dead-letter topic whose own subscription
keeps what could not be delivered."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from components.agents import service_agent
from components.context import StackContext
from components.events.config import EventsArgs, SubscriptionArgs, TopicArgs
from components.events.watch import WatchedSubscription, watch_events
from components.observability.signals import Watched
from components.refs import NO_CMEK, Encryption, ServiceEndpoint, WarehouseTable

API = "pubsub.googleapis.com"
NEVER = ""  # an expiration policy ttl of "" keeps a subscription however long it stays idle
IAM_PROPAGATION = "180s"  # IAM changes typically propagate in 2 minutes, sometimes 7 or more


def _seconds(value: int) -> str:
    return f"{value}s"


def _member(email: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("serviceAccount:", email)


class EventBus(pulumi.ComponentResource):
    """Topics and subscriptions from `platform:events`. Every grant names one topic, subscription, table or service:

    - publishers (Cloud Run services or GKE workloads): roles/pubsub.publisher on their topic;
    - push: a dedicated service account per subscription, roles/run.invoker on the target Cloud Run service;
    - pull: the consuming service's or workload's account, roles/pubsub.subscriber on the subscription;
    - the Pub/Sub service agent: publisher on each dead-letter topic and subscriber on its source subscription (without
      them dead-lettering does nothing), and roles/bigquery.dataEditor on each table a subscription writes into.
    """

    topic_ids: pulumi.Output[dict[str, str]]
    subscription_ids: pulumi.Output[dict[str, str]]
    dead_letter_subscription_ids: pulumi.Output[dict[str, str]]
    push_service_accounts: pulumi.Output[dict[str, str]]
    service_agent: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: EventsArgs,
        *,
        ctx: StackContext,
        services: Mapping[str, ServiceEndpoint],
        tables: Mapping[str, WarehouseTable],
        workloads: Mapping[str, pulumi.Input[str]] | None = None,
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`services`: the Cloud Run services (push targets, publishers, pullers); `workloads`: the GKE workloads'
        Google service account emails, by workload (publishers, pullers)."""
        super().__init__("platform:components:EventBus", name, None, ctx.component(opts))
        self._name = name
        self._args = args
        self._ctx = ctx
        self._services = services
        self._workloads = dict(workloads or {})
        self._tables = tables
        self._key = encryption.key("pubsub")
        self._storage = encryption.topic_storage()
        self.agent = service_agent(f"{name}-pubsub-agent", API, ctx=ctx, parent=self)
        self.topics: dict[str, gcp.pubsub.Topic] = {}
        self.subscriptions: dict[str, gcp.pubsub.Subscription] = {}
        self.dead_letter_topics: dict[str, gcp.pubsub.Topic] = {}
        self.dead_letter_subscriptions: dict[str, gcp.pubsub.Subscription] = {}
        self.push_accounts: dict[str, gcp.serviceaccount.Account] = {}
        self.grants: dict[str, pulumi.CustomResource] = {}
        for key, topic in args.topics.items():
            self.topics[key] = self._topic(key, topic)
            for subscription_key, subscription in topic.subscriptions.items():
                self._subscription(key, subscription_key, subscription)

        self.service_agent = self.agent.email
        self.topic_ids = _ids(self.topics)
        self.subscription_ids = _ids(self.subscriptions)
        self.dead_letter_subscription_ids = _ids(self.dead_letter_subscriptions)
        self.push_service_accounts = pulumi.Output.all(
            **{key: account.email for key, account in self.push_accounts.items()}
        ).apply(dict)
        self.register_outputs(
            {
                "topic_ids": self.topic_ids,
                "subscription_ids": self.subscription_ids,
                "dead_letter_subscription_ids": self.dead_letter_subscription_ids,
                "push_service_accounts": self.push_service_accounts,
                "service_agent": self.service_agent,
            }
        )

    def watch(self) -> Watched:
        return watch_events(
            self._args,
            [
                WatchedSubscription(
                    key=f"{topic}-{key}",
                    name=self._ctx.naming.physical(topic, key),
                    dead_letter_name=self._ctx.naming.physical(topic, key, "dead-letter"),
                    max_backlog_age_seconds=s.max_backlog_age_seconds or self._args.alerts.max_backlog_age_seconds,
                )
                for topic, key, s in self._args.subscriptions()
            ],
        )

    # --- topics ---------------------------------------------------------------------------------------------------

    def _topic(self, key: str, args: TopicArgs) -> gcp.pubsub.Topic:
        ctx = self._ctx
        schema = None
        if args.schema_file is not None:
            schema = gcp.pubsub.Schema(
                f"{self._name}-{key}-schema",
                name=ctx.naming.physical(key),
                type=args.schema_type,
                definition=args.schema_definition,
                opts=ctx.after(self, API),
            )
        topic = self._new_topic(
            f"{self._name}-{key}",
            ctx.naming.physical(key),
            retention_hours=args.retention_hours,
            schema_settings=gcp.pubsub.TopicSchemaSettingsArgs(schema=schema.id, encoding=args.schema_encoding)
            if schema
            else None,
        )
        for service in sorted(set(args.publishers)):
            self.grants[f"{key}/publisher/{service}"] = gcp.pubsub.TopicIAMMember(
                f"{self._name}-{key}-publisher-{service}",
                topic=topic.name,
                role="roles/pubsub.publisher",
                member=_member(self._account(service)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return topic

    def _new_topic(
        self,
        logical: str,
        physical: str,
        *,
        retention_hours: int | None = None,
        schema_settings: gcp.pubsub.TopicSchemaSettingsArgs | None = None,
    ) -> gcp.pubsub.Topic:
        ctx = self._ctx
        return gcp.pubsub.Topic(
            logical,
            name=physical,
            message_retention_duration=_seconds(retention_hours * 3600) if retention_hours else None,
            schema_settings=schema_settings,
            kms_key_name=self._key,
            message_storage_policy=self._storage,
            labels=ctx.labels("events"),
            deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
            opts=ctx.stateful(self, API),
        )

    def _account(self, name: str) -> pulumi.Input[str]:
        """The email of the Cloud Run service's or GKE workload's account (the stack config keeps the names apart)."""
        return self._services[name].service_account_email if name in self._services else self._workloads[name]

    # --- subscriptions --------------------------------------------------------------------------------------------

    def _subscription(self, topic_key: str, key: str, args: SubscriptionArgs) -> None:
        ctx, name = self._ctx, f"{self._name}-{topic_key}-{key}"
        ref = f"{topic_key}/{key}"
        dead_letter = self._dead_letters(topic_key, key)
        waits_for: list[pulumi.Resource] = [self.grants[f"{ref}/dead-letter-publisher"]]
        push_config = self._push_delivery(topic_key, key, args, waits_for) if args.push is not None else None
        bigquery_config = self._bigquery_delivery(ref, name, args, waits_for) if args.bigquery is not None else None
        subscription = gcp.pubsub.Subscription(
            name,
            name=ctx.naming.physical(topic_key, key),
            topic=self.topics[topic_key].id,
            ack_deadline_seconds=args.ack_deadline_seconds,
            message_retention_duration=_seconds(args.retention_days * 86_400),
            enable_message_ordering=args.ordering,
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff=_seconds(args.retry.minimum_backoff_seconds),
                maximum_backoff=_seconds(args.retry.maximum_backoff_seconds),
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=dead_letter.id, max_delivery_attempts=args.max_delivery_attempts
            ),
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=NEVER),
            push_config=push_config,
            bigquery_config=bigquery_config,
            labels=ctx.labels("events"),
            deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
            opts=pulumi.ResourceOptions.merge(ctx.stateful(self, API), pulumi.ResourceOptions(depends_on=waits_for)),
        )
        self.subscriptions[ref] = subscription
        self._subscribers(ref, name, subscription, args)

    def _push_delivery(
        self, topic_key: str, key: str, args: SubscriptionArgs, waits_for: list[pulumi.Resource]
    ) -> gcp.pubsub.SubscriptionPushConfigArgs:
        """The push config; the subscription waits for the invoker grant and the deployer's right to act as the
        push account (Pub/Sub checks that whoever sets a push subscription's OIDC account may act as it)."""
        name, ref = f"{self._name}-{topic_key}-{key}", f"{topic_key}/{key}"
        push_config, invoker = self._push(topic_key, key, args)
        grants: list[pulumi.Resource] = [invoker, *self._ctx.act_as(self, f"{name}-push", self.push_accounts[ref].name)]
        waits_for += [*grants, self._settled(name, grants, self.push_accounts[ref].email)]
        return push_config

    def _bigquery_delivery(
        self, ref: str, name: str, args: SubscriptionArgs, waits_for: list[pulumi.Resource]
    ) -> gcp.pubsub.SubscriptionBigqueryConfigArgs:
        """The BigQuery config, and the agent's right to write the one table (creating a BigQuery subscription checks
        that it may), which the subscription waits for."""
        assert args.bigquery is not None
        table = self._tables[args.bigquery.table]
        writer = gcp.bigquery.IamMember(
            f"{name}-table-writer",
            project=table.project,
            dataset_id=table.dataset_id,
            table_id=table.table_id,
            role="roles/bigquery.dataEditor",
            member=self.agent.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.grants[f"{ref}/table-writer"] = writer
        waits_for += [writer, self._settled(name, [writer], table.path)]
        return gcp.pubsub.SubscriptionBigqueryConfigArgs(
            table=table.path,
            use_table_schema=args.bigquery.schema_from == "table",
            use_topic_schema=args.bigquery.schema_from == "topic",
            write_metadata=args.bigquery.write_metadata,
            drop_unknown_fields=args.bigquery.drop_unknown_fields,
        )

    def _settled(self, name: str, grants: list[pulumi.Resource], grantee: pulumi.Input[str]) -> time.Sleep:
        """A wait after the grants a subscription's create checks, so that they have propagated by then; it waits
        again only when what was granted changes (`grantee`)."""
        return time.Sleep(
            f"{name}-iam-propagation",
            create_duration=IAM_PROPAGATION,
            triggers={"grantee": grantee},
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )

    def _subscribers(self, ref: str, name: str, subscription: gcp.pubsub.Subscription, args: SubscriptionArgs) -> None:
        """The agent acknowledges a message on the source subscription when it moves it to the dead-letter topic; a
        pull subscription's service reads it."""
        self.grants[f"{ref}/agent-subscriber"] = gcp.pubsub.SubscriptionIAMMember(
            f"{name}-agent-subscriber",
            subscription=subscription.name,
            role="roles/pubsub.subscriber",
            member=self.agent.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.pull is not None:
            self.grants[f"{ref}/subscriber/{args.pull.service}"] = gcp.pubsub.SubscriptionIAMMember(
                f"{name}-subscriber-{args.pull.service}",
                subscription=subscription.name,
                role="roles/pubsub.subscriber",
                member=_member(self._account(args.pull.service)),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _dead_letters(self, topic_key: str, key: str) -> gcp.pubsub.Topic:
        """The subscription's own dead-letter topic, the agent's right to publish there, and a subscription on it that
        keeps dead letters (messages published to a topic without a subscription are lost)."""
        ctx, name, ref = self._ctx, f"{self._name}-{topic_key}-{key}", f"{topic_key}/{key}"
        physical = ctx.naming.physical(topic_key, key, "dead-letter")
        topic = self._new_topic(f"{name}-dead-letter", physical)
        self.dead_letter_topics[ref] = topic
        self.grants[f"{ref}/dead-letter-publisher"] = gcp.pubsub.TopicIAMMember(
            f"{name}-dead-letter-publisher",
            topic=topic.name,
            role="roles/pubsub.publisher",
            member=self.agent.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dead_letter_subscriptions[ref] = gcp.pubsub.Subscription(
            f"{name}-dlq",
            name=physical,
            topic=topic.id,
            ack_deadline_seconds=60,
            message_retention_duration=_seconds(self._args.dead_letter_retention_days * 86_400),
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=NEVER),
            labels=ctx.labels("events"),
            deletion_policy="PREVENT" if ctx.deletion_protection else "DELETE",
            opts=ctx.stateful(self, API),
        )
        return topic

    def _push(
        self, topic_key: str, key: str, args: SubscriptionArgs
    ) -> tuple[gcp.pubsub.SubscriptionPushConfigArgs, gcp.cloudrunv2.ServiceIamMember]:
        """Push to the service's run.app URL (same-project Pub/Sub pushes there count as internal traffic, whatever
        the service's ingress), signed as an account that may invoke that one service."""
        assert args.push is not None
        ctx, name, target = self._ctx, f"{self._name}-{topic_key}-{key}", self._services[args.push.service]
        account = gcp.serviceaccount.Account(
            f"{name}-push",
            account_id=ctx.naming.physical(topic_key, key, "push", max_length=30),
            display_name=f"Pub/Sub push {topic_key}/{key}",
            description=f"Signs Pub/Sub pushes of {topic_key}/{key} to {args.push.service}; may invoke only it",
            opts=ctx.after(self, "iam.googleapis.com"),
        )
        self.push_accounts[f"{topic_key}/{key}"] = account
        invoker = gcp.cloudrunv2.ServiceIamMember(
            f"{name}-push-invoker",
            name=target.name,
            location=ctx.region,
            role="roles/run.invoker",
            member=account.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.grants[f"{topic_key}/{key}/invoker"] = invoker
        url = pulumi.Output.from_input(target.url)
        config = gcp.pubsub.SubscriptionPushConfigArgs(
            push_endpoint=url.apply(lambda u: u.rstrip("/") + args.push.path if args.push else u),
            # Cloud Run accepts ID tokens whose audience is its run.app URL (the default audience is the endpoint).
            oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                service_account_email=account.email, audience=url
            ),
        )
        return config, invoker


def _ids(resources: Mapping[str, gcp.pubsub.Topic | gcp.pubsub.Subscription]) -> pulumi.Output[dict[str, str]]:
    return pulumi.Output.all(**{key: r.id for key, r in resources.items()}).apply(dict)
