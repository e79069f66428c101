"""`kill -9` of the web server under load loses no acknowledged completion (PostgreSQL).

A real `rectiflow serve` process takes task completions over the API from several client threads; it is killed
with SIGKILL mid-load. Every completion it acknowledged (a 2xx reached the client) must be in the database: the
task completed once, with exactly one TaskCompleted event, and its instance finished. Nothing half-written may
remain either: a task is completed if and only if its instance ended.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.org.tokens import create_token
from engine.process.models import Event, HumanTask, ProcessInstance
from tests.incident_diagrams import ENTER, diagram

ROOT = Path(__file__).resolve().parents[2]
TASKS = 120
KILL_AFTER = 25  # acknowledged completions before the SIGKILL


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited during start-up: {process.stdout.read()}")
        try:
            urllib.request.urlopen(base + "/login", timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise AssertionError("the server did not answer within 60 s")


def test_kill_nine_under_load_loses_no_acknowledged_completion(services, world, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the web server subprocess is driven against PostgreSQL, the production database")
    services.deploy_definition(diagram("kill9", "断电测试", [ENTER], ["enter"]), "kill9.bpmn", world.users.designer)
    for _ in range(TASKS):
        services.start_process("kill9", world.users.designer, {})
    with services.uow() as uow:
        task_ids = list(uow.session.scalars(select(HumanTask.id).where(HumanTask.bpmn_id == "enter")
                                            .order_by(HumanTask.id)))
    assert len(task_ids) == TASKS
    _, token = create_token(services, world.users.security, "kill-9", expires_in_days=None)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RECTIFLOW_DATABASE_URL": database_url}
    env.pop("RECTIFLOW_TEST_PG_URL", None)
    server = subprocess.Popen([sys.executable, "-c", "from web.cli.main import main; main()", "serve",
                               "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    acknowledged: list[int] = []
    lock = threading.Lock()
    queue = list(task_ids)
    try:
        _wait_until_up(base, server)

        def client() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    task_id = queue.pop(0)
                request = urllib.request.Request(
                    f"{base}/api/v1/tasks/{task_id}/complete", data=json.dumps({"data": {}}).encode(), method="POST",
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        if 200 <= response.status < 300:
                            with lock:
                                acknowledged.append(task_id)
                except (urllib.error.URLError, ConnectionError, OSError):
                    return  # the server is gone: this completion was never acknowledged

        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < KILL_AFTER and time.monotonic() < deadline and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        assert len(acknowledged) >= KILL_AFTER, "the server never acknowledged enough completions"
        os.kill(server.pid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
    assert server.returncode == -signal.SIGKILL
    assert len(acknowledged) < TASKS, "the kill came mid-load, with completions still to send"

    with services.uow() as uow:
        s = uow.session
        tasks = {t.id: t for t in s.scalars(select(HumanTask).where(HumanTask.id.in_(task_ids)))}
        completed_events = dict(s.execute(
            select(Event.task_id, func.count()).where(Event.kind == "TaskCompleted", Event.task_id.in_(task_ids))
            .group_by(Event.task_id)).all())
        instances = {i.id: i.status for i in s.scalars(
            select(ProcessInstance).where(ProcessInstance.id.in_({t.instance_id for t in tasks.values()})))}
    for task_id in acknowledged:
        assert tasks[task_id].state == "completed", f"acknowledged task {task_id} was lost"
        assert completed_events.get(task_id) == 1, f"task {task_id}: {completed_events.get(task_id)} completions"
    for task in tasks.values():  # all or nothing for the ones in flight at the kill
        done = task.state == "completed"
        assert instances[task.instance_id] == ("completed" if done else "running"), task.id
        assert completed_events.get(task.id, 0) == (1 if done else 0), task.id
