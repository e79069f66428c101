"""Process instance and task rows: loading one locked for the transaction that advances it."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.db import is_postgres
from engine.infra.errors import NotFound
from engine.process.models import HumanTask, ProcessInstance


def lock_instance(session: Session, instance_id: int, skip_locked: bool = False) -> ProcessInstance | None:
    """Load an instance row locked for this transaction (FOR UPDATE on PostgreSQL; SQLite holds a write lock)."""
    stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=skip_locked)
    instance = session.scalars(stmt).first()
    if instance is None and not skip_locked:
        raise NotFound(f"process instance {instance_id} does not exist")
    return instance


def load_task(session: Session, task_id: int, lock: bool = False) -> HumanTask:
    """Load a task row fresh from the database, locked for this transaction when `lock` (FOR UPDATE on PostgreSQL)."""
    stmt = select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    task = session.scalars(stmt).first()
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task
