"""Camunda JUEL expressions in foreign diagrams (placeholder until the translator lands: it translates nothing).

The real module rewrites `${...}` condition and expression texts into Python for the restricted evaluator and
returns a finding for each it cannot translate; this one keeps the call site of the parse pipeline working.
"""
from __future__ import annotations

from lxml import etree

from engine.process.findings import Finding


def translate_document(root: etree._Element, filename: str) -> list[Finding]:
    """Rewrite JUEL expressions of one BPMN document in place; returns what could not be translated."""
    return []
