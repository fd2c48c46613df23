"""A monthly cost budget for the environment, filtered on its Environment tag, with e-mail alerts."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.common import child
from components.renames import formerly
from components.spec import BudgetSpec, Environment

ACTUAL_THRESHOLDS = (80, 90, 100)
FORECAST_THRESHOLDS = (100,)


def budget_notifications(emails: list[str]) -> list[aws.budgets.BudgetNotificationArgs]:
    if not emails:
        return []
    alerts = [("ACTUAL", t) for t in ACTUAL_THRESHOLDS] + [("FORECASTED", t) for t in FORECAST_THRESHOLDS]
    return [
        aws.budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN",
            threshold=threshold,
            threshold_type="PERCENTAGE",
            notification_type=kind,
            subscriber_email_addresses=list(emails),
        )
        for kind, threshold in alerts
    ]


@dataclass(frozen=True)
class BudgetArgs:
    base_name: str
    environment: Environment  # the cost allocation tag the budget filters on
    budget: BudgetSpec


class Budget(pulumi.ComponentResource):
    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Budget", name, None, formerly(opts, "mlops:aws:CostBudget"))
        self.budget = aws.budgets.Budget(
            name,
            name=f"{args.base_name}-monthly",
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.budget.monthly_limit_usd:.2f}",
            limit_unit="USD",
            # Cost allocation tag filter (activate `Environment` as a cost allocation tag in Billing once).
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:Environment${args.environment}"])
            ],
            notifications=budget_notifications(list(args.budget.notification_emails)),
            opts=child(self),
        )
        self.register_outputs({"name": self.budget.name})
