"""Hazards (隐患): reporting, the ledger, rectification notices, evidence, comments, who may read what."""
