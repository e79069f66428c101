"""Structural checks of a bundle before it is parsed (placeholder until the linter lands: it finds nothing).

The real module checks reachability, gateway conditions, forms, decisions, callees, messages, scripts and
timers and returns one finding per problem; this one keeps the call site of the parse pipeline working.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.process.findings import Finding


@dataclass
class LintContext:
    """What the bundle and the deployed processes offer the diagrams being checked."""

    forms: set[str] = field(default_factory=set)
    dmn_ids: set[str] = field(default_factory=set)
    callable_processes: set[str] = field(default_factory=set)  # in the bundle, and deployed
    caught_messages: set[str] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)


def lint_bundle(documents: dict[str, etree._Element], ctx: LintContext) -> list[Finding]:
    """Every problem found in the bundle's BPMN documents (name → parsed root)."""
    return []
