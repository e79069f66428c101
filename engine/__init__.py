"""Rectiflow engine: domain model, BPMN runtime and services (no web framework here)."""
