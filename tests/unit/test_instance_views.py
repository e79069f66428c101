"""The catalogue's rule for "a person can start it": a none start event in the process itself."""
from __future__ import annotations

from types import SimpleNamespace

from engine.process.instance_views import has_none_start_event

HEAD = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">'
        '<bpmn:message id="m" name="go" />')


def _definition(key: str, body: str) -> SimpleNamespace:
    xml = f'{HEAD}<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
    return SimpleNamespace(key=key, sha256=f"sha-{key}", source_xml=xml)


def test_a_none_start_event_makes_a_process_startable_by_a_person():
    assert has_none_start_event(_definition("plain", '<bpmn:startEvent id="s"><bpmn:outgoing>f</bpmn:outgoing>'
                                                     '</bpmn:startEvent>'))
    # A message start next to a none start (the shipped hazard process has both): still startable.
    assert has_none_start_event(_definition("both", '<bpmn:startEvent id="s" /><bpmn:startEvent id="m1">'
                                                    '<bpmn:messageEventDefinition messageRef="m" /></bpmn:startEvent>'))


def test_timer_and_message_starts_alone_are_not_in_the_catalogue():
    assert not has_none_start_event(_definition("timer", '<bpmn:startEvent id="t"><bpmn:timerEventDefinition>'
                                                         '<bpmn:timeCycle>R/P1D</bpmn:timeCycle>'
                                                         '</bpmn:timerEventDefinition></bpmn:startEvent>'))
    assert not has_none_start_event(_definition("message", '<bpmn:startEvent id="m1"><bpmn:messageEventDefinition '
                                                           'messageRef="m" /></bpmn:startEvent>'))
    # A start event inside a subprocess does not count: only the process's own.
    assert not has_none_start_event(_definition("inner", '<bpmn:startEvent id="m1"><bpmn:messageEventDefinition '
                                                         'messageRef="m" /></bpmn:startEvent><bpmn:subProcess id="sp">'
                                                         '<bpmn:startEvent id="inner_start" /></bpmn:subProcess>'))
