"""A budget on the billing account for this stack's project: alerts at the configured shares of the amount, sent to
the stack's notification channels and to a Pub/Sub topic that automation can subscribe to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, StringConstraints, model_validator

from components.config_types import Model, invalid
from components.context import StackContext
from components.refs import NO_CMEK, Encryption

SKIPPED = "skipped: no billing account configured (budget.billing_account)"
MAX_CHANNELS = 5  # the Budget API notifies at most five monitoring channels
Share = Annotated[float, Field(gt=0, le=10)]  # of the budgeted amount: 0.5 is 50 %, 1.2 is 120 %


class BudgetArgs(Model):
    """`platform:budget`: a monthly amount in the billing account's currency, and when to tell people about it."""

    billing_account: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")] | None = None
    amount: Annotated[int, Field(gt=0)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"
    alert_at: list[Share] = [0.5, 0.9, 1.0]  # of actual spend
    forecast_alert_at: Share | None = 1.0  # of the month's forecasted spend; None: no forecast alert

    @model_validator(mode="after")
    def _distinct(self) -> BudgetArgs:
        if len(set(self.alert_at)) != len(self.alert_at) or not self.alert_at:
            invalid("alert_at", f"{self.alert_at} must list each share once, like [0.5, 0.9, 1.0]")
        return self

    def thresholds(self) -> list[tuple[float, str]]:
        rules = [(share, "CURRENT_SPEND") for share in sorted(self.alert_at)]
        return rules + ([(self.forecast_alert_at, "FORECASTED_SPEND")] if self.forecast_alert_at else [])

    def describe(self) -> str:
        shares = ", ".join(
            f"{share:.0%}" + (" forecasted" if basis != "CURRENT_SPEND" else "") for share, basis in self.thresholds()
        )
        return f"{self.amount} {self.currency} on billingAccounts/{self.billing_account}, alerts at {shares}"


class Budget(pulumi.ComponentResource):
    """The budget and its notification topic; without a billing account in config nothing is created, and the plan
    and the `budget` output say so."""

    status: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: BudgetArgs,
        *,
        ctx: StackContext,
        notification_channels: Sequence[pulumi.Input[str]],
        aliases_parent: pulumi.Resource | None = None,
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`aliases_parent` is the component these resources belonged to before they had their own, so existing stacks
        adopt them instead of replacing them; with `encryption` (CMEK) the notification topic takes the Pub/Sub key."""
        super().__init__("platform:components:Budget", name, None, ctx.component(opts))
        self._key = encryption.key("pubsub", ctx.region)
        self._storage = encryption.topic_storage()
        self.budget: gcp.billing.Budget | None = None
        if args.billing_account is None:
            pulumi.log.info(f"budget {SKIPPED}", resource=self)
        else:
            self.budget = self._budget(name, args, ctx, notification_channels, aliases_parent)
        self.status = pulumi.Output.from_input(SKIPPED if self.budget is None else args.describe())
        self.register_outputs({"status": self.status})

    def _budget(
        self,
        name: str,
        args: BudgetArgs,
        ctx: StackContext,
        channels: Sequence[pulumi.Input[str]],
        aliases_parent: pulumi.Resource | None,
    ) -> gcp.billing.Budget:
        aliases = [pulumi.Alias(name="observability-budget", parent=aliases_parent)] if aliases_parent else None
        self.topic = gcp.pubsub.Topic(
            f"{name}-alerts",
            name=ctx.naming.physical("budget-alerts"),
            message_retention_duration="604800s",
            kms_key_name=self._key,
            message_storage_policy=self._storage,
            labels=ctx.labels("observability"),
            opts=pulumi.ResourceOptions.merge(
                ctx.after(self, "pubsub.googleapis.com"), pulumi.ResourceOptions(aliases=aliases)
            ),
        )
        number = gcp.organizations.get_project_output(
            project_id=ctx.project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number
        return gcp.billing.Budget(
            name,
            billing_account=args.billing_account,
            display_name=ctx.naming.physical("budget"),
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(projects=[number.apply(lambda n: f"projects/{n}")]),
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code=args.currency, units=str(args.amount)
                )
            ),
            threshold_rules=[
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=share, spend_basis=basis)
                for share, basis in args.thresholds()
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=list(channels)[:MAX_CHANNELS],
                pubsub_topic=self.topic.id,
                schema_version="1.0",
            ),
            opts=pulumi.ResourceOptions.merge(
                ctx.after(self, "billingbudgets.googleapis.com"), pulumi.ResourceOptions(aliases=aliases)
            ),
        )
