"""Campaigns (专项整治): checklists, campaigns and their units, coverage, look-backs, situation reports, phase."""
