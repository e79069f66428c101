"""Recurring inspections (巡查计划): schedules, their cadence, and the occurrences the scheduler starts."""
