"""The restricted evaluator that runs every BPMN script and expression."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.infra.clock import FixedClock
from engine.infra.errors import ScriptNotAllowed
from engine.process.scripting import RestrictedEnvironment, active_clock

env = RestrictedEnvironment()


def test_plain_expressions_and_scripts_work():
    assert env.evaluate('grade == "major" and days > 3', {"grade": "major", "days": 5}) is True
    data = {"items": [1, 5, 9], "limit": 4}
    env.execute("big = [i for i in items if i > limit]\ncount = len(big)\ncount += 1", data)
    assert data == {"items": [1, 5, 9], "limit": 4, "big": [5, 9], "count": 3}


@pytest.mark.parametrize("source, message", [
    ("import os", "imports are not allowed"),
    ("from os import system", "imports are not allowed"),
    ('__import__("os")', "starts with"),
    ("().__class__.__bases__", "starts with"),
    ("class X: pass", "ClassDef"),
    ("x = (", "syntax error"),
    ('eval("1")', "Eval calls are not allowed"),
    ("exec('x=1')", "Exec calls are not allowed"),
])
def test_dangerous_scripts_are_refused_before_running(source, message):
    with pytest.raises(ScriptNotAllowed, match=message):
        env.execute(source, {})


@pytest.mark.parametrize("source", ['open("/etc/passwd")', 'getattr(1, "real")', "globals()", "vars()"])
def test_unsafe_builtins_do_not_exist(source):
    with pytest.raises(NameError):
        env.evaluate(source, {})


def test_string_format_is_blocked_because_it_reaches_attributes():
    with pytest.raises(NotImplementedError):
        env.evaluate('"{0.__class__}".format(x)', {"x": 1})


def test_script_results_leave_no_helpers_in_task_data():
    data = {"a": 1}
    env.execute("b = a + 1", data)
    assert set(data) == {"a", "b"}


def test_scripts_have_datetime_and_timedelta_reading_the_engine_clock():
    # SpiffWorkflow's tests give scripts `datetime` and `timedelta`; the tutorial writes `datetime.datetime`.
    when = datetime(2026, 3, 4, 5, 6, tzinfo=timezone.utc)
    token = active_clock.set(FixedClock(when))
    try:
        data: dict = {}
        env.execute("a = datetime.now(datetime.timezone.utc) + timedelta(days=1)\n"
                    "b = datetime.datetime.utcnow()\nc = datetime(2024, 1, 2) + datetime.timedelta(hours=1)\n"
                    "d = datetime.fromisoformat('2026-01-01T08:00').hour", data)
    finally:
        active_clock.reset(token)
    assert data == {"a": when + timedelta(days=1), "b": when.replace(tzinfo=None),
                    "c": datetime(2024, 1, 2, 1), "d": 8}
    assert all(type(v) is datetime for k, v in data.items() if k != "d")  # plain values, stored like any data


@pytest.mark.parametrize("source", ["datetime.__class__", "datetime.now().__class__", "timedelta.__subclasses__"])
def test_the_time_helpers_expose_no_underscore_attributes(source):
    with pytest.raises(ScriptNotAllowed, match="starts with"):
        env.evaluate(source, {})


def test_task_data_named_like_a_time_helper_wins_and_is_kept():
    data = {"datetime": "2026-01-01", "timedelta": 3}
    env.execute("copy = datetime\nn = timedelta + 1", data)
    assert data == {"datetime": "2026-01-01", "timedelta": 3, "copy": "2026-01-01", "n": 4}
