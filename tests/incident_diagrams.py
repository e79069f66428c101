"""Small diagrams for the incident tests: a line of steps, scripts that fail, timers, service tasks."""
from __future__ import annotations

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_{key}"
    targetNamespace="http://example.org/{key}">{messages}
  <bpmn:process id="{key}" name="{name}" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_security" name="security_office">{lane_refs}</bpmn:lane>
    </bpmn:laneSet>
"""
TAIL = """  </bpmn:process>
</bpmn:definitions>
"""


def diagram(key: str, name: str, nodes: list[str], user_tasks: list[str], start: str = "",
            messages: tuple[str, ...] = ()) -> bytes:
    """A straight line start → nodes... → end (each node given as XML without incoming/outgoing).

    `start` is the start event's definition (e.g. a message's), `messages` the message names it declares."""
    refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for t in user_tasks)
    body, ids = [], ["start"]
    for node in nodes:
        ids.append(node.split('id="', 1)[1].split('"', 1)[0])
    ids.append("end")
    body.append(f'<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing>{start}</bpmn:startEvent>')
    for i, node in enumerate(nodes):
        # incoming/outgoing follow the extension elements (XSD order)
        marker = "</bpmn:extensionElements>"
        tag_end = node.index(marker) + len(marker) if marker in node else node.index(">") + 1
        body.append(node[:tag_end] + f"<bpmn:incoming>f{i}</bpmn:incoming><bpmn:outgoing>f{i + 1}</bpmn:outgoing>"
                    + node[tag_end:])
    body.append(f'<bpmn:endEvent id="end"><bpmn:incoming>f{len(nodes)}</bpmn:incoming></bpmn:endEvent>')
    for i in range(len(ids) - 1):
        body.append(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{ids[i]}" targetRef="{ids[i + 1]}" />')
    declared = "".join(f'\n  <bpmn:message id="msg_{m}" name="{m}" />' for m in messages)
    return (HEAD.format(key=key, name=name, lane_refs=refs, messages=declared) + "\n".join(body) + TAIL).encode("utf-8")


ENTER = '<bpmn:userTask id="enter" name="填写采购"></bpmn:userTask>'
APPROVE = '<bpmn:userTask id="approve" name="审批采购"></bpmn:userTask>'
PRICE = '<bpmn:scriptTask id="price" name="计价"><bpmn:script>total = amount * 2</bpmn:script></bpmn:scriptTask>'
WAIT = ('<bpmn:intermediateCatchEvent id="wait" name="等一小时"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>')
AFTER_WAIT = ('<bpmn:scriptTask id="after_wait" name="到期计算"><bpmn:script>late = missing + 1</bpmn:script>'
              '</bpmn:scriptTask>')
GOOD_SCRIPT = '<bpmn:scriptTask id="after_wait" name="到期计算"><bpmn:script>late = 1</bpmn:script></bpmn:scriptTask>'


def service_task(task_id: str, operator: str, params: dict[str, str]) -> str:
    parameters = "".join(f'<spiffworkflow:parameter id="{k}" type="str" value="{v}" />' for k, v in params.items())
    return (f'<bpmn:serviceTask id="{task_id}" name="{task_id}"><bpmn:extensionElements>'
            f'<spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="{task_id}_result">'
            f'<spiffworkflow:parameters>{parameters}</spiffworkflow:parameters>'
            '</spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>')


def message_catch(task_id: str, message: str) -> str:
    """An intermediate catch event waiting for a message (declare it in `messages`)."""
    return (f'<bpmn:intermediateCatchEvent id="{task_id}" name="{task_id}">'
            f'<bpmn:messageEventDefinition messageRef="msg_{message}" /></bpmn:intermediateCatchEvent>')


def message_start(message: str) -> str:
    """The start event's definition for a process started by a message."""
    return f'<bpmn:messageEventDefinition messageRef="msg_{message}" />'
