"""Type-token renames that keep existing stacks in place.

A component's type token is part of its URN and of every child's URN (the engine qualifies a child's type with its
parent's chain). Renaming a token without an alias makes `pulumi up` delete and recreate the whole subtree, databases
included. `pulumi.Alias(type_=<former token>)` tells the engine the old URN is this resource; children inherit their
parent's aliases, so one alias per renamed component keeps its subtree too.
"""

from __future__ import annotations

import pulumi


def formerly(opts: pulumi.ResourceOptions | None, *former_types: str) -> pulumi.ResourceOptions:
    """`opts` plus an alias for each type token this component was registered under before."""
    aliases: list[pulumi.Input[str | pulumi.Alias]] = [pulumi.Alias(type_=token) for token in former_types]
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))
