"""The process core: runs any BPMN (deploy, run, tasks, timers, messages, deadlines, outbox); knows no subject."""
