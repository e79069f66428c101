"""The walk over the public diagrams: deploy a catalogue entry through the REST API, start it, work its inboxes.

Used by tests/foreign/test_foreign_walk.py (one test per entry) and by `python -m tests.foreign.report`.
Every step goes through the Flask test client and /api/v1 with a user's bearer token, as a designer's client
would: POST /definitions (multipart `file` parts + `role_map`), POST /process-instances (or POST /messages for a
message start), GET /tasks as every user to find whose inbox holds the instance's open tasks, claim, complete,
until GET /process-instances/{id} (or, where that endpoint is absent, the instance row) says it completed.
"""
from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from engine.assembly import assemble
from engine.infra.clock import FixedClock
from engine.infra.config import DEFAULT_BPMN_DIR, Settings
from engine.infra.db import make_engine, make_session_factory
from engine.infra.schema import upgrade
from engine.org import accounts, tokens
from engine.process.models import HumanTask, ProcessDefinition, ProcessInstance
from web.app import create_app

REPO = Path(__file__).resolve().parents[2]
# ../shared/foreign-bpmn seen from the repository (a worktree or the main checkout); overridable for other layouts.
FOREIGN_DIR = Path(os.environ.get("RECTIFLOW_FOREIGN_BPMN", REPO.parent / "shared" / "foreign-bpmn"))
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
MAX_STEPS = 80

# The people of the walk: one per role a role_map may name, all in one school (a task's default candidate org).
PEOPLE = {
    "designer": ("process_designer", "school"),
    "leader": ("leader", "school"),
    "security": ("security_office", "school"),
    "inspector": ("inspector", "school"),
    "admin": ("admin", "school"),
    "staff": ("department_staff", "unit"),
    "head": ("department_head", "unit"),
    "supervisor": ("supervisor", "bureau"),
}


def foreign_dir_problem() -> str | None:
    """Why the walk cannot run here (the shared diagrams are absent), or None."""
    if not FOREIGN_DIR.is_dir():
        return f"FOREIGN DIAGRAMS ABSENT: {FOREIGN_DIR} does not exist; the foreign walk did not run"
    return None


def make_template(path: Path) -> dict:
    """A migrated SQLite file with the shipped diagrams, the walk's people and a token each; returns their ids."""
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    services = assemble(make_session_factory(engine), FixedClock(T0), DEFAULT_BPMN_DIR)
    services.deploy_directory()
    with services.uow() as uow:
        s = uow.session
        now = services.clock.now()
        province = accounts.add_org(s, "province", "外省", "fw")
        city = accounts.add_org(s, "city", "外市", "fw-c", province)
        bureau = accounts.add_org(s, "county", "外区教育局", "fw-c-b", city)
        school = accounts.add_org(s, "school", "外来学院", "fw-c-b-s", bureau)
        unit = accounts.add_org(s, "unit", "外来学院后勤处", "fw-c-b-s-u", school)
        orgs = {"school": school, "unit": unit, "bureau": bureau}
        users = {name: accounts.add_user(s, name, name, "pw-" + name, orgs[where], now,
                                         roles=[(role, orgs[where])]).id
                 for name, (role, where) in PEOPLE.items()}
        uow.commit()
    plaintexts = {name: tokens.create_token(services, user_id, "foreign walk")[1] for name, user_id in users.items()}
    engine.dispose()
    people = {"users": users, "tokens": plaintexts}
    path.with_suffix(".json").write_text(json.dumps(people))
    return people


class Walker:
    """One fresh database (a copy of the template), the app around it, and calls as any of the walk's people."""

    def __init__(self, template: Path, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        db = workdir / "walk.sqlite3"
        shutil.copy(template, db)
        people = json.loads(template.with_suffix(".json").read_text())
        self.users: dict[str, int] = people["users"]
        self.names = {v: k for k, v in self.users.items()}
        self._tokens: dict[str, str] = people["tokens"]
        self.engine = make_engine(f"sqlite:///{db}")
        self.clock = FixedClock(T0)
        self.services = assemble(make_session_factory(self.engine), self.clock, DEFAULT_BPMN_DIR)
        self.app = create_app(Settings(secret_key="foreign-walk", upload_dir=workdir / "uploads"),
                              services=self.services, config={"TESTING": True})
        self.client = self.app.test_client()

    def call(self, user: str, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self._tokens[user]}", **kwargs.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def close(self) -> None:
        self.services.dispose()
        self.engine.dispose()


@dataclass
class Outcome:
    """What happened to one entry: ok, or the stage it stopped at and why; `steps` is the trail."""

    entry_id: str
    ok: bool = False
    stage: str = ""
    reason: str = ""
    steps: list[str] = field(default_factory=list)

    def fail(self, stage: str, reason: str) -> Outcome:
        self.ok, self.stage, self.reason = False, stage, " ".join(str(reason).split())[:600]
        return self

    def done(self, note: str) -> Outcome:
        self.ok, self.stage, self.reason = True, "done", note
        return self

    def summary(self) -> str:
        trail = " → ".join(self.steps[-12:])
        return f"{self.entry_id}: {'OK' if self.ok else 'FAILED at ' + self.stage}: {self.reason}\n  trail: {trail}"


def _message(response) -> str:
    body = response.get_json(silent=True)
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}"
    parts = [str(body.get("message") or "")]
    for item in body.get("errors") or body.get("findings") or []:
        parts.append(json.dumps(item, ensure_ascii=False) if not isinstance(item, str) else item)
    return f"HTTP {response.status_code}: " + "; ".join(p for p in parts if p)


def _resolve(value):
    """Catalogue data may point at an upstream example data file: {"$example": "spiff-arena/x/y-exampledata.json"}."""
    if isinstance(value, dict) and set(value) == {"$example"}:
        return json.loads((FOREIGN_DIR / value["$example"]).read_text(encoding="utf-8"))
    return value


def autofill(schema: dict | None) -> dict:
    """Data for a form nobody gave data for: each required field's default, first choice, or a plain value."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties") or {}
    out = {}
    for name in schema.get("required") or []:
        out[name] = _value(props.get(name) or {})
    return out


def _value(prop: dict):
    if "default" in prop:
        return prop["default"]
    if prop.get("enum"):
        return prop["enum"][0]
    for key in ("oneOf", "anyOf"):
        if prop.get(key):
            first = prop[key][0]
            return first.get("const", first.get("enum", [None])[0]) if isinstance(first, dict) else first
    kind = prop.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "string":
        return {"date": "2026-11-02", "date-time": "2026-11-02T09:00:00+08:00",
                "email": "walk@example.org"}.get(prop.get("format"), "walk")
    if kind in ("number", "integer"):
        return max(prop.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return autofill(prop)
    return "walk"


def bundle_parts(entry: dict) -> list[tuple[io.BytesIO, str]]:
    """The entry's files as upload parts, each under its bare name (forms are referenced by bare name)."""
    parts = []
    for rel in entry["files"]:
        path = FOREIGN_DIR / rel
        parts.append((io.BytesIO(path.read_bytes()), path.name))
    return parts


def _open_tasks(walker: Walker, instance_ids: set[int]) -> dict[int, tuple[dict, str]]:
    """The instances' open tasks as the API shows them, each with a person whose inbox holds it (own inbox first)."""
    found: dict[int, tuple[dict, str]] = {}
    for view in ("mine", "groups"):
        for name in walker.users:
            page = 1
            while True:
                got = walker.call(name, "GET", f"/tasks?view={view}&per_page=200&page={page}")
                if got.status_code != 200:
                    break
                body = got.get_json()
                for task in body.get("items", []):
                    if task.get("instance_id") in instance_ids and task["id"] not in found:
                        found[task["id"]] = (task, name)
                if not body.get("items") or len(body["items"]) < 200:
                    break
                page += 1
    return found


def _instance(walker: Walker, instance_id: int) -> dict:
    """The instance's status (and variables where the API shows them): the API, else the row."""
    got = walker.call("admin", "GET", f"/process-instances/{instance_id}")
    if got.status_code == 200:
        return got.get_json()
    with walker.services.uow() as uow:
        row = uow.session.get(ProcessInstance, instance_id)
        return {"id": row.id, "status": row.status, "via": "database"}


def _nobody_sees(walker: Walker, instance_id: int) -> str:
    """Why a running instance has no task in anyone's inbox: its ready task rows, if any, and their candidates."""
    with walker.services.uow() as uow:
        rows = uow.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                           HumanTask.state == "ready")).all()
        if not rows:
            row = uow.session.get(ProcessInstance, instance_id)
            timer = f"; next timer at {row.next_timer_at.isoformat()}" if row.next_timer_at else ""
            return f"running with no open user task (waiting for a message, signal or service?){timer}"
        return "; ".join(f"task {r.bpmn_id!r} is open for role {r.candidate_role!r} at org {r.candidate_org_id} "
                         f"(assignee {r.assignee_id}) but no walker's inbox shows it" for r in rows)


def _newest_instance(walker: Walker, keys: list[str], after: int) -> int | None:
    with walker.services.uow() as uow:
        return uow.session.scalars(
            select(ProcessInstance.id).join(ProcessDefinition)
            .where(ProcessDefinition.key.in_(keys), ProcessInstance.id > after)
            .order_by(ProcessInstance.id.desc())).first()


def _started_since(walker: Walker, keys: list[str], after: int) -> set[int]:
    """Instances of the bundle's processes started after `after` (by the walk, or by a message it caused)."""
    with walker.services.uow() as uow:
        return set(uow.session.scalars(
            select(ProcessInstance.id).join(ProcessDefinition)
            .where(ProcessDefinition.key.in_(keys), ProcessInstance.id > after)))


def _max_instance_id(walker: Walker) -> int:
    with walker.services.uow() as uow:
        return uow.session.scalars(select(ProcessInstance.id).order_by(ProcessInstance.id.desc())).first() or 0


def _matches(entry: dict, text: str) -> bool:
    wanted = entry.get("match")
    if not wanted:
        return True
    wanted = [wanted] if isinstance(wanted, str) else wanted
    return any(w.lower() in text.lower() for w in wanted)


def walk(entry: dict, walker: Walker) -> Outcome:
    """Deploy, start and work one catalogue entry to its expected end; never raises for a diagram's fault."""
    out = Outcome(entry["id"])
    expect = entry["expect"]
    missing = [rel for rel in entry["files"] if not (FOREIGN_DIR / rel).is_file()]
    if missing:
        return out.fail("files", f"missing from {FOREIGN_DIR}: {missing}")

    # -- deploy: first the bundles it builds on (callees, earlier versions), then its own ----------------------
    for earlier in entry.get("before") or []:
        got = walker.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                          data={"file": bundle_parts({"files": earlier})})
        out.steps.append(f"deploy-before {got.status_code}")
        if got.status_code != 201:
            return out.fail("deploy before", f"{earlier}: {_message(got)}")
    data = {"file": bundle_parts(entry)}
    if entry.get("role_map"):
        data["role_map"] = json.dumps(entry["role_map"])
    deployed = walker.call("designer", "POST", "/definitions", content_type="multipart/form-data", data=data)
    out.steps.append(f"deploy {deployed.status_code}")
    if expect == "refuse":
        if deployed.status_code in (400, 422):
            text = _message(deployed)
            if not _matches(entry, text):
                return out.fail("deploy", f"refused, but not for the expected reason {entry.get('match')!r}: {text}")
            if len(text) < 20:
                return out.fail("deploy", f"refused without a clear message: {text}")
            return out.done(f"refused as expected: {text[:200]}")
        if deployed.status_code == 201:
            return out.fail("deploy", f"deployed, but it should have been refused ({entry['reason']})")
        return out.fail("deploy", f"expected a 422 refusal, got {_message(deployed)}")
    if deployed.status_code != 201:
        return out.fail("deploy", _message(deployed))
    body = deployed.get_json()
    if isinstance(body, dict):  # one definition today; a bundle deploy may answer a list, or wrap one
        body = next((body[k] for k in ("definitions", "items", "processes") if isinstance(body.get(k), list)), [body])
    definitions = body
    keys = [d.get("key") for d in definitions if isinstance(d, dict)]
    if entry["start"] not in keys and not entry.get("start_message"):
        # Today's API deploys only the first file; a bundle's other processes may be missing.
        known = walker.call("designer", "GET", "/definitions").get_json() or []
        if entry["start"] not in {d.get("key") for d in known}:
            return out.fail("deploy", f"process {entry['start']!r} was not deployed (got {keys})")

    # -- start ----------------------------------------------------------------------------------------------
    starter = entry.get("starter", "designer")
    before = _max_instance_id(walker)
    if entry.get("start_message"):
        sent = walker.call(starter, "POST", "/messages", json=entry["start_message"])
        out.steps.append(f"message {entry['start_message']['name']} {sent.status_code}")
        if sent.status_code not in (200, 201, 202):
            return _failed_run(out, entry, "start", _message(sent))
        instance_id = _newest_instance(walker, [entry["start"]], before)
        if instance_id is None:
            return out.fail("start", f"the message was accepted but no instance of {entry['start']!r} started")
    else:
        started = walker.call(starter, "POST", "/process-instances",
                              json={"key": entry["start"], "data": entry.get("start_data", {}),
                                    "business_key": f"foreign-{entry['id']}"[:100]})
        out.steps.append(f"start {started.status_code}")
        if started.status_code != 201:
            return _failed_run(out, entry, "start", _message(started))
        instance_id = started.get_json()["id"]
    # Other pools of a collaboration, started alongside (upstream starts the whole collaboration at once).
    instance_ids = {instance_id}
    for key in entry.get("also_start") or []:
        other = walker.call(starter, "POST", "/process-instances", json={"key": key, "data": {}})
        out.steps.append(f"start {key} {other.status_code}")
        if other.status_code != 201:
            return _failed_run(out, entry, f"start {key}", _message(other))
        instance_ids.add(other.get_json()["id"])

    # -- walk the inboxes -----------------------------------------------------------------------------------
    queued = {k: list(v) if isinstance(v, list) else v for k, v in (entry.get("tasks") or {}).items()}
    # A task met again after its list of data ran out takes the last item again.
    messages = list(entry.get("messages") or [])
    timer_steps = int(entry.get("timers", 0))
    worked = 0
    for _ in range(MAX_STEPS):
        state = _instance(walker, instance_id)
        status = state.get("status")
        if status == "completed":
            if expect in ("incident", "waits"):
                return out.fail("end", f"completed, but it should not ({entry['reason']})")
            return _check_final(out, entry, state)
        if status not in ("running", None):
            return _failed_run(out, entry, "end", f"the instance ended as {status!r}")
        # Instances the walked ones started by messages (another pool of the collaboration, a callee's approver):
        # upstream runs the whole collaboration, so their tasks are worked too.
        instance_ids |= _started_since(walker, keys, before)
        tasks = _open_tasks(walker, instance_ids)
        if tasks:
            task_id = min(tasks)
            task, person = tasks[task_id]
            bpmn_id = task["bpmn_id"]
            given = queued.get(bpmn_id)
            if isinstance(given, list):
                given = given.pop(0) if len(given) > 1 else (given[0] if given else None)
            if given is None:
                detail = walker.call(person, "GET", f"/tasks/{task_id}").get_json() or {}
                given = autofill(detail.get("form_schema"))
            given = _resolve(given)
            if task.get("assignee_id") is None:
                claimed = walker.call(person, "POST", f"/tasks/{task_id}/claim")
                if claimed.status_code != 200:
                    return out.fail(f"claim {bpmn_id}", f"{person}: {_message(claimed)}")
            done = walker.call(person, "POST", f"/tasks/{task_id}/complete", json={"data": given})
            out.steps.append(f"{bpmn_id}@{person} {done.status_code}")
            if done.status_code != 200:
                return _failed_run(out, entry, f"task {bpmn_id}", f"{person}: {_message(done)}")
            worked += 1
            if expect == "waits" and worked >= int(entry.get("rounds", 1)):
                if _instance(walker, instance_id).get("status") == "running":
                    return out.done(f"still running after {worked} tasks, as designed")
                return out.fail("end", f"it should still be running after {worked} tasks ({entry['reason']})")
            continue
        if messages:
            message = messages.pop(0)
            sent = walker.call("designer", "POST", "/messages", json=message)
            out.steps.append(f"message {message['name']} {sent.status_code}")
            if sent.status_code not in (200, 201, 202):
                return _failed_run(out, entry, f"message {message['name']}", _message(sent))
            continue
        if timer_steps > 0:
            timer_steps -= 1
            walker.clock.advance(timedelta(**entry.get("advance", {"days": 30})))
            sweep = walker.services.fire_due_timers()
            out.steps.append(f"timers {getattr(sweep, 'fired', sweep)}")
            continue
        # Stuck is never the failure an `incident` entry expects: that one must be an answer naming its cause.
        return out.fail("stuck", _nobody_sees(walker, instance_id))
    return out.fail("steps", f"still running after {MAX_STEPS} steps")


def _failed_run(out: Outcome, entry: dict, stage: str, text: str) -> Outcome:
    """A failure while running: what an `incident` entry expects (a clear message naming the cause), else a fault."""
    if entry["expect"] == "incident":
        if _matches(entry, text):
            return out.done(f"failed as expected at {stage}: {text[:200]}")
        return out.fail(stage, f"failed, but the message does not name {entry.get('match')!r}: {text}")
    return out.fail(stage, text)


def _check_final(out: Outcome, entry: dict, state: dict) -> Outcome:
    """The upstream tests' expected end data, checked where the instance API shows the variables."""
    final = entry.get("final") or {}
    variables = state.get("variables") or state.get("data")
    if final and isinstance(variables, dict):
        wrong = {k: variables.get(k) for k, v in final.items() if variables.get(k) != v}
        if wrong:
            return out.fail("end", f"completed, but {wrong} differ from the expected {final}")
        return out.done(f"completed with {sorted(final)} as upstream expects")
    return out.done("completed" + (" (end data not shown by the API)" if final else ""))
