"""The CrossGuard policy pack: `pulumi preview --policy-pack policies` runs it against a real preview.

Only this file constructs the PolicyPack (its constructor starts the analyzer's gRPC server and blocks).
"""

from pulumi_policy import PolicyPack

from policies.rules import RESOURCE_POLICIES, STACK_POLICIES

PolicyPack(name="mlops-guardrails", policies=[*RESOURCE_POLICIES, *STACK_POLICIES])
