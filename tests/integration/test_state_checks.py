"""The database itself refuses a task or instance state the lifecycle does not know, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from engine.process.lifecycle import InstanceState, TaskState
from engine.process.models import HumanTask, ProcessInstance


def _set(services, model, column: str, row_id: int, value: str) -> None:
    with services.uow() as uow:
        uow.session.execute(update(model).where(model.id == row_id).values({column: value}))
        uow.commit()


def test_a_task_state_outside_the_lifecycle_is_refused_by_the_database(services, report_hazard, open_tasks):
    task = open_tasks(report_hazard().id)[0]
    with pytest.raises(IntegrityError, match="ck_human_tasks_state"):
        _set(services, HumanTask, "state", task.id, "done")
    assert open_tasks(task.hazard_id)[0].state == TaskState.READY


def test_an_instance_status_outside_the_lifecycle_is_refused_by_the_database(services, report_hazard):
    instance_id = report_hazard().instance_id
    with pytest.raises(IntegrityError, match="ck_process_instances_status"):
        _set(services, ProcessInstance, "status", instance_id, "paused")
    with services.uow() as uow:
        assert uow.session.get(ProcessInstance, instance_id).status == InstanceState.RUNNING


def test_every_lifecycle_state_is_accepted_by_the_database(services, report_hazard, open_tasks):
    hazard = report_hazard()
    task = open_tasks(hazard.id)[0]
    for state in TaskState:
        _set(services, HumanTask, "state", task.id, state)
    for status in InstanceState:
        _set(services, ProcessInstance, "status", hazard.instance_id, status)
    with services.uow() as uow:
        assert uow.session.get(HumanTask, task.id).state == list(TaskState)[-1]
        assert uow.session.get(ProcessInstance, hazard.instance_id).status == list(InstanceState)[-1]
