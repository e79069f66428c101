"""The restricted evaluator that runs every BPMN script and expression."""
from __future__ import annotations

import pytest

from engine.infra.errors import ScriptNotAllowed
from engine.process.scripting import RestrictedEnvironment

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
