"""A monthly billing budget on the project, alerting by email at 50/80/90/100% of actual and 100% of forecast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.renames import formerly
from components.spec import BudgetSpec

ACTUAL_THRESHOLDS = (0.5, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class BudgetArgs:
    base_name: str
    billing_account: str
    project_number: pulumi.Input[str]
    budget: BudgetSpec
    labels: Mapping[str, str]  # user_labels: not covered by the provider's default_labels


class Budget(pulumi.ComponentResource):
    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:Budget", name, None, formerly(opts, "mlops:gcp:ProjectBudget"))
        child = pulumi.ResourceOptions(parent=self)
        channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{i}",
                type="email",
                display_name=f"{args.base_name} budget: {email}",
                labels={"email_address": email},
                user_labels=dict(args.labels),
                opts=child,
            )
            for i, email in enumerate(args.budget.notification_emails)
        ]
        self.budget = gcp.billing.Budget(
            f"{name}-budget",
            billing_account=args.billing_account,
            display_name=f"{args.base_name} monthly",
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[pulumi.Output.from_input(args.project_number).apply(lambda n: f"projects/{n}")],
                calendar_period="MONTH",
                credit_types_treatment="INCLUDE_ALL_CREDITS",
            ),
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code="USD", units=str(int(args.budget.monthly_limit_usd))
                )
            ),
            threshold_rules=[
                *(
                    gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t, spend_basis="CURRENT_SPEND")
                    for t in ACTUAL_THRESHOLDS
                ),
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=1.0, spend_basis="FORECASTED_SPEND"),
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=[c.name for c in channels],
                disable_default_iam_recipients=False,  # billing admins are notified as well
            )
            if channels
            else None,
            opts=child,
        )
        self.register_outputs({})
