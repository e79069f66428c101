"""The API answers a runaway script with 422 and its budget's message, promptly, and stores nothing."""
from __future__ import annotations

import io
import time
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select

from engine.process.models import Event, ProcessInstance
from engine.process.script_budget import ScriptLimits, limits
from engine.process.scripting import configure_budget

from .api_fixtures import api, api_app  # noqa: F401

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_runaway"
    targetNamespace="http://example.org/runaway">
  <bpmn:process id="runaway" name="失控" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="lane_security" name="security_office">
      <bpmn:flowNodeRef>approve</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="spin" name="计价"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="approve" name="审批"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="spin" />
    <bpmn:sequenceFlow id="f2" sourceRef="spin" targetRef="approve" />
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def short_budget():
    before = limits()
    configure_budget(ScriptLimits(time_seconds=0.5, max_items=before.max_items, max_int_digits=before.max_int_digits))
    yield
    configure_budget(before)


def _deploy(api, script: str):
    got = api.call("designer", "POST", "/definitions", content_type="multipart/form-data",
                   data={"file": (io.BytesIO(DIAGRAM.format(script=escape(script)).encode()), "runaway.bpmn")})
    assert got.status_code == 201, got.get_json()


def _stored(services) -> tuple[int, int]:
    with services.uow() as uow:
        s = uow.session
        return (s.scalar(select(func.count()).select_from(ProcessInstance)),
                s.scalar(select(func.count()).select_from(Event)))


@pytest.mark.parametrize("script, data, reason", [
    ("while True: pass", {}, "BPMN script exceeded its time budget of 0.5 s"),
    ("total = 10**10**10", {}, "BPMN script exceeded its size budget: it would make an integer of about"),
    # the data a user sends can make the script's value huge, too
    ("total = amount * 2", {"amount": "ab" * 300_000},
     "BPMN script exceeded its size budget: it would make a string of 1,200,000 characters (at most 1,000,000)"),
], ids=["loop", "power", "data"])
def test_a_runaway_start_is_a_422_naming_the_budget(api, services, short_budget, script, data, reason):
    _deploy(api, script)
    before = _stored(services)
    started = time.monotonic()
    failed = api.call("designer", "POST", "/process-instances", json={"key": "runaway", "data": data})
    assert time.monotonic() - started < 30
    assert failed.status_code == 422, failed.get_json()
    assert "'计价' (spin) failed: " + reason in failed.get_json()["message"]
    assert _stored(services) == before
