"""Service-task operators and failure descriptions: pure functions, no database."""
from __future__ import annotations

import pytest

from engine.infra.errors import ScriptNotAllowed
from engine.process.incidents import describe_failure
from engine.process.operators import (
    OPERATOR_NAMES,
    pending_effects,
    run_operator,
    take_effects,
)
from engine.process.scripting import RestrictedEnvironment


def _params(**values):
    return {k: {"value": v, "type": "str"} for k, v in values.items()}


def test_the_registry_names_the_three_operators():
    assert OPERATOR_NAMES == {"notify", "http_post", "set_variable"}


def test_set_variable_writes_the_task_data_and_refuses_bad_names():
    data = {}
    assert run_operator("set_variable", _params(name="total", value=12), data, []) == {"name": "total"}
    assert data == {"total": 12}
    with pytest.raises(ScriptNotAllowed, match="is not a variable name"):
        run_operator("set_variable", _params(name="_secret", value=1), data, [])


def test_notify_and_http_post_only_note_effects():
    effects = []
    run_operator("notify", _params(user="security", message="来看看"), {}, effects, "tell")
    run_operator("http_post", _params(endpoint="robot", body={"n": 1}), {}, effects, "post")
    assert [(e.operator, e.element_id) for e in effects] == [("notify", "tell"), ("http_post", "post")]
    with pytest.raises(ScriptNotAllowed, match="needs a recipient"):
        run_operator("notify", _params(message="x"), {}, [])
    with pytest.raises(ScriptNotAllowed, match="needs the parameter 'endpoint'"):
        run_operator("http_post", _params(body={}), {}, [])


def test_an_unknown_operator_is_a_clear_error():
    with pytest.raises(ScriptNotAllowed, match="'send_fax' is not registered; use one of http_post, notify"):
        run_operator("send_fax", {}, {}, [])


def test_the_environment_answers_json_for_spiffworkflow():
    data = {}
    answer = RestrictedEnvironment().call_service(data, operation_name="set_variable",
                                                  operation_params=_params(name="x", value=[1, 2]))
    assert answer == '{"name": "x"}' and data == {"x": [1, 2]}


def test_take_effects_empties_the_workflow_s_list():
    class Workflow:
        top_workflow = None

    workflow = Workflow()
    workflow.top_workflow = workflow
    run_operator("notify", _params(role="admin", message="m"), {"school_id": 4}, pending_effects(workflow), "t")
    [effect] = take_effects(workflow)
    assert (effect.params["role"], effect.params["org_id"]) == ("admin", 4)  # the school from the task data
    assert take_effects(workflow) == []


def test_a_failure_names_the_missing_variable_from_the_exception_chain():
    try:
        try:
            eval("amount * 2", {})  # noqa: S307 - a plain NameError, as a script raises it
        except NameError as exc:
            raise ValueError("wrapped") from exc
    except ValueError as wrapped:
        failure = describe_failure(wrapped)
    assert (failure.element_id, failure.variable) == (None, "amount")
    assert failure.message == "wrapped; missing variable 'amount'"
