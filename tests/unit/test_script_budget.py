"""Time and size budgets of the restricted evaluator: runaway scripts and expressions stop with a clear error."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from engine.infra.clock import FixedClock
from engine.infra.config import Settings
from engine.infra.errors import ScriptBudgetExceeded, ScriptNotAllowed
from engine.process.script_budget import ScriptLimits, limits
from engine.process.scripting import RestrictedEnvironment, active_clock, configure_budget
from web.composition import build_services

env = RestrictedEnvironment()
GENEROUS = 30  # seconds: a refused payload must come back, not hang; how fast is not what these tests measure


@pytest.fixture
def short_budget():
    """A 0.3 s time budget for this test, then the default again."""
    before = limits()
    configure_budget(ScriptLimits(time_seconds=0.3, max_items=before.max_items, max_int_digits=before.max_int_digits))
    yield
    configure_budget(before)


def _refused(run, source: str) -> str:
    started = time.monotonic()
    with pytest.raises(ScriptBudgetExceeded) as refused:
        run(source, {})
    assert time.monotonic() - started < GENEROUS
    return refused.value.message


SIZE_PAYLOADS = [
    ("x = 10**10**10", "an integer of about 10,000,000,000 digits"),
    ("x = len('a'*1500000000)", "a string of 1,500,000,000 characters"),
    ("x = [0]*10**9", "a list of 1,000,000,000 items"),
    ("x = 2<<10**9", "an integer of about 301,029,996 digits"),
    ("x = b'ab' * 10**8", "bytes of 200,000,000 bytes"),
    ("x = 3\nx **= 10**8", "an integer of about"),
    ("s = 'a'\nwhile True:\n    s += s", "a string of 1,048,576 characters"),
    ("s = 'ab'\nwhile True:\n    s *= 2", "a string of 1,048,576 characters"),
    ("x = list(range(10**9))", "a range of 1,000,000,000 numbers"),
    ("x = ''.join(['a' * 999999] * 100)", "a string of 99,999,900 characters"),
    ("x = 'a'.ljust(10**9)", "a string of 1,000,000,000 characters"),
    ("x = 'ab'.replace('', 'c' * 999999)", "a string of 2,999,999 characters"),
    ("x = '%999999999d' % 1", "%-format widths of 999,999,999 characters"),
    ("x = round(5, -10**8)", "a rounding to -100,000,000 digits"),
    ("x = sum([[0] * 1000000] * 1000, [])", "a list of 2,000,000 items"),
    ("l = [1]\nwhile True:\n    l.extend(l)", "a list of 1,048,576 items"),
    ("x = []\nfor i in range(60):\n    x = [x, x]", "data of more than 10,000,000 characters and items"),
    ("try:\n    x = 'a' * 10**10\nexcept:\n    x = 'caught'", "a string of 10,000,000,000 characters"),
    ("x = str.ljust('a', 10**9)", "a string of 1,000,000,000 characters"),
    ("x = ('a' * 1000000).translate({97: 'b' * 1000})", "a string of 1,000,000,000 characters"),
]


@pytest.mark.parametrize("source", ["x = [[0] * 1000000 for i in range(10**6)]",
                                    "x = [('a' * 999999) for i in range(10**6)]"])
def test_many_values_within_the_budget_still_stop_at_the_memory_backstop(source):
    message = _refused(env.execute, source)
    assert message.startswith("BPMN script exceeded its size budget: its values took ")
    assert "MB of the worker's memory (at most 256 MB)" in message


@pytest.mark.parametrize("source, made", SIZE_PAYLOADS, ids=[p[0] for p in SIZE_PAYLOADS])
def test_scripts_that_would_make_huge_values_are_refused_before_making_them(source, made):
    message = _refused(env.execute, source)
    assert message.startswith("BPMN script exceeded its size budget: it would make ")
    assert made in message


@pytest.mark.parametrize("expression", ["len('a'*1500000000) > 3", "10**10**10 > 1", "len([0]*10**9)"])
def test_expressions_and_conditions_get_the_same_size_budget(expression):
    assert _refused(env.evaluate, expression).startswith("BPMN expression exceeded its size budget")


@pytest.mark.parametrize("source", [
    "x = " + repr("a" * 1_000_001),
    "x = 0x" + "f" * 9000,
    "x = f'{1:>999999999}'",
    "x = f'{1:>{width}}'",
])
def test_huge_literals_and_widths_are_refused_when_compiled(source):
    with pytest.raises(ScriptNotAllowed, match="size budget|written out"):
        env.execute(source, {"width": 3})


TIME_PAYLOADS = [
    "while True: pass",
    "while True:\n    pass",
    "x = 0\nwhile x >= 0:\n    x += 1",
    "for i in range(10**6):\n    for j in range(10**6):\n        pass",
    "x = [0 for a in range(10**6) for b in range(10**6)]",
    "f = lambda n: f(n - 1) + f(n - 1) if n else 1\nx = f(100)",
    "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(100)",
    # the budget's error cannot be swallowed: every handler and finally block checks it first
    "while True:\n    try:\n        while True: pass\n    except:\n        pass",
    "for i in range(10):\n    try:\n        while True: pass\n    finally:\n        continue",
]


@pytest.mark.parametrize("source", TIME_PAYLOADS, ids=TIME_PAYLOADS)
def test_runaway_scripts_stop_at_the_time_budget(short_budget, source):
    assert _refused(env.execute, source).startswith("BPMN script exceeded its time budget of 0.3 s")


def test_runaway_expressions_stop_at_the_time_budget(short_budget):
    message = _refused(env.evaluate, "[1 for i in range(10**6) for j in range(10**6)]")
    assert message.startswith("BPMN expression exceeded its time budget of 0.3 s")


def test_the_time_budget_works_outside_the_main_thread(short_budget):
    outcome = []

    def run():
        try:
            env.execute("while True: pass", {})
        except ScriptBudgetExceeded as exc:
            outcome.append(exc.message)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(GENEROUS)
    assert not worker.is_alive()
    assert outcome and "time budget" in outcome[0]


def test_the_default_budgets_are_two_seconds_and_a_million():
    assert (limits().time_seconds, limits().max_items, limits().max_int_digits) == (2.0, 1_000_000, 10_000)


def test_the_settings_set_the_budgets_when_the_services_are_built():
    settings = Settings.from_env({"RECTIFLOW_DATABASE_URL": "sqlite://", "RECTIFLOW_SCRIPT_TIME_BUDGET": "0.25",
                                  "RECTIFLOW_SCRIPT_SIZE_BUDGET": "1000"})
    assert (settings.script_time_budget, settings.script_size_budget) == (0.25, 1000)
    before = limits()
    try:
        build_services(settings)
        assert (limits().time_seconds, limits().max_items) == (0.25, 1000)
        assert "a string of 1,001 characters (at most 1,000)" in _refused(env.execute, "x = 'a' * 1001")
        with pytest.raises(ScriptNotAllowed, match="size budget"):  # compiled code is checked again
            env.execute("x = " + repr("a" * 1001), {})
        assert "time budget of 0.25 s" in _refused(env.execute, "while True: pass")
    finally:
        configure_budget(before)
    env.execute("x = " + repr("a" * 1001), {})


def test_ordinary_scripts_and_conditions_still_work():
    data = {"items": [1, 5, 9], "limit": 4, "name": "巡查"}
    env.execute("big = [i for i in items if i > limit]\ncount = len(big)\ncount += 1\ncount *= 2\n"
                "line = '-' * 40\ntitle = name + ' ' + str(count)\nbits = 1 << 10\npower = 2 ** 64\n"
                "label = '%s: %05d' % (name, count)\npadded = name.ljust(6, '.')\njoined = ', '.join(['a', 'b'])\n"
                "total = sum(items)\nflat = sum([[1], [2]], [])\nr = round(3.14159, 2)\nrows = list(range(5))\n"
                "f = f'{count:>4}'\n"
                "def double(n):\n    return n * 2\nd = double(4)\ntry:\n    bad = 1 / 0\nexcept ZeroDivisionError:\n"
                "    bad = None\nn = 0\nwhile n < 100:\n    n += 1\n", data)
    assert {k: v for k, v in data.items() if k not in ("items", "limit", "name")} == {
        "big": [5, 9], "count": 6, "line": "-" * 40, "title": "巡查 6", "bits": 1024, "power": 2 ** 64,
        "label": "巡查: 00006", "padded": "巡查....", "joined": "a, b", "total": 15, "flat": [1, 2], "r": 3.14,
        "rows": [0, 1, 2, 3, 4], "f": "   6", "d": 8, "bad": None, "n": 100}
    assert env.evaluate('grade == "major" and days > 3', {"grade": "major", "days": 5}) is True
    assert env.evaluate("days * 24 + len(note * 2)", {"days": 2, "note": "ab"}) == 52


def test_scripts_still_read_the_engine_clock_under_the_budget():
    when = datetime(2026, 3, 4, 5, 6, tzinfo=timezone.utc)
    token = active_clock.set(FixedClock(when))
    try:
        data: dict = {}
        env.execute("a = datetime.now(datetime.timezone.utc) + timedelta(days=1) * 2", data)
    finally:
        active_clock.reset(token)
    assert data == {"a": datetime(2026, 3, 6, 5, 6, tzinfo=timezone.utc)}


def test_the_budget_leaves_no_helpers_in_task_data():
    data = {"a": 1}
    env.execute("b = a * 2\nfor i in range(2):\n    b += i", data)
    assert data == {"a": 1, "b": 3, "i": 1}
