"""The `rectiflow` command line: admin, BPMN, tasks, campaigns, schedules, statistics, the scheduler, serve."""
