"""Process instance and task rows: loading them locked for the transaction that changes them.

Lock order (PostgreSQL row locks; SQLite serialises whole write transactions). Every verb that changes a task
or advances an instance takes its locks in this order, so no two verbs ever wait on each other in a cycle:

1. the process instance row (`lock_instance`; an instance that delivers a message locks the target next);
2. then the task rows of that instance (`lock_task`, which every task verb reaches through
   `lifecycle.require_locked`, does 1 and 2 for a verb on one task; the projection then
   writes the instance's other task rows under the same instance lock);
3. then the subject's rows (a hazard, a unit's 序号, a notice counter), as the hooks reach them.

Both locks are FOR NO KEY UPDATE (`with_for_update(key_share=True)`), not FOR UPDATE. Every INSERT of a row that
references an instance or a task by foreign key (an event, an outbox message, a new task, an escalation) takes
a FOR KEY SHARE lock on the referenced row; FOR KEY SHARE does not wait for FOR NO KEY UPDATE, so those inserts,
from this transaction or any other, never queue behind an instance or task lock. Two lockers of the same row
still serialise (NO KEY UPDATE conflicts with itself), which is what keeps one winner when two people race.
Nothing updates the key columns of these rows, so their UPDATEs take NO KEY UPDATE locks too.

The escalation sweep (engine/process/escalation.py, escalation_cas.py) is the one writer that locks a task row
without its instance: it takes the task row with SKIP LOCKED, never waits for one, and its inserts only take
key-share locks on the instance, which no lock above blocks. So it cannot close a cycle with a verb either.

Before this order, claim locked the task row and then its event's foreign key waited for the instance that
complete_task held FOR UPDATE, while complete_task waited for the task row: PostgreSQL broke the cycle with
DeadlockDetected (tests/integration/test_lock_order.py).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.infra.db import is_postgres
from engine.infra.errors import NotFound
from engine.process.models import HumanTask, ProcessInstance


def lock_instance(session: Session, instance_id: int, skip_locked: bool = False) -> ProcessInstance | None:
    """Load an instance row locked for this transaction (FOR NO KEY UPDATE on PostgreSQL; SQLite holds a write
    lock). With `skip_locked`, None when another transaction holds it."""
    stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update(key_share=True, skip_locked=skip_locked)
    instance = session.scalars(stmt).first()
    if instance is None and not skip_locked:
        raise NotFound(f"process instance {instance_id} does not exist")
    return instance


def lock_tasks_where(session: Session, *criteria, also_instances=None) -> list[HumanTask]:
    """Every task matching `criteria`, locked in the engine's order for a bulk change (deactivating their holder,
    handing a unit's work over): their instances first, in id order, then the tasks, in id order; two statements
    whatever the count. The tasks are read again after the locks, so the criteria hold for what is returned.

    `also_instances` (a select of instance ids) joins the first statement: the instances of other rows the caller
    changes next (a hand-over's hazards), so every instance lock is taken in one ordered pass."""
    instances = select(HumanTask.instance_id).where(*criteria)
    wanted = ProcessInstance.id.in_(instances)
    if also_instances is not None:
        wanted = wanted | ProcessInstance.id.in_(also_instances)
    lock_instances = select(ProcessInstance.id).where(wanted).order_by(ProcessInstance.id)
    tasks = (select(HumanTask).where(*criteria).order_by(HumanTask.id)
             .execution_options(populate_existing=True))
    if is_postgres(session):
        lock_instances = lock_instances.with_for_update(key_share=True)
        tasks = tasks.with_for_update(key_share=True)
    session.execute(lock_instances).all()
    return list(session.scalars(tasks))


def lock_task(session: Session, task_id: int) -> tuple[ProcessInstance, HumanTask]:
    """The task and its instance, locked in the engine's order: the instance first, then the task row.

    The task's instance id is read without a lock (a task never moves to another instance); the task row is read
    again once the instance is locked, so the caller's checks see what was committed before the locks."""
    instance_id = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
    if instance_id is None:
        raise NotFound(f"task {task_id} does not exist")
    instance = lock_instance(session, instance_id)
    stmt = select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
    if is_postgres(session):
        stmt = stmt.with_for_update(key_share=True)
    return instance, session.scalars(stmt).one()

