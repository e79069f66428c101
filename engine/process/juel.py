"""Camunda's JUEL expressions (`${approved}`, `#{amount > 1000}`) translated into restricted Python, or refused.

Real diagrams use a small part of JUEL: variables, property and index access on them, literals (strings,
numbers, true/false, null), the operators `! not && and || or == eq != ne < lt > gt <= le >= ge + - * / div
% mod empty` and `a ? b : c`. Those become a Python expression for the restricted evaluator (scripting.py);
anything else — method or function calls (`${customer.prop("x")}`), `execution.` and `task.` (Camunda's Java
objects), other script languages — is refused with the element and its line: "write it as a Python expression".
`translate_document` rewrites a diagram's expression texts in place before the parser reads them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from engine.process.findings import Finding

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
FIX = "write it as a Python expression"
# Camunda's engine objects: a Python expression cannot reach them.
REFUSED_ROOTS = {"execution", "task", "authenticatedUserId", "variables", "caseExecution", "externalTask"}
_WORD_OPERATORS = {"and": "and", "or": "or", "not": "not", "eq": "==", "ne": "!=", "lt": "<", "gt": ">",
                   "le": "<=", "ge": ">=", "div": "/", "mod": "%", "empty": "empty"}
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:().\[\],])
    )""", re.VERBOSE)
_WHOLE = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)
# Timer values Camunda writes bare (PT5M, 2026-12-24T09:00:00, R3/PT1H); SpiffWorkflow evaluates timer texts as
# Python, so they are quoted.
_ISO_TIMER = re.compile(r"^(R\d*/\S+|P(?=\d|T\d)[0-9YMWD]*(T[0-9HMS.,]+)?|\d{4}-\d{2}-\d{2}(T[0-9:.+\-Z]+)?)$")


class JuelError(ValueError):
    """A JUEL expression the translator cannot read or will not run."""


def is_juel(text: str | None) -> bool:
    """True when the text holds a `${...}` or `#{...}` expression."""
    return bool(text) and ("${" in text or "#{" in text)


def translate(text: str) -> str:
    """The Python form of one JUEL expression `${...}`/`#{...}` (the whole text); JuelError otherwise."""
    match = _WHOLE.match(text)
    if not match or is_juel(match.group("body")):
        raise JuelError(f"{text.strip()!r} mixes text and expressions")
    return _Parser(match.group("body")).parse()


def translate_value(text: str | None) -> str | None:
    """A Camunda attribute as a Python expression: `${x}` translated, plain text as a string literal."""
    if text is None or not text.strip():
        return None
    if is_juel(text):
        return translate(text)
    return repr(text.strip())


@dataclass
class _Token:
    kind: str
    value: str


class _Parser:
    """A recursive-descent parser over JUEL's grammar that writes Python text as it goes."""

    def __init__(self, source: str):
        self.source = source
        self.tokens = self._tokenize(source)
        self.pos = 0

    @staticmethod
    def _tokenize(source: str) -> list[_Token]:
        tokens, pos = [], 0
        while pos < len(source):
            if source[pos:].strip() == "":
                break
            match = _TOKEN.match(source, pos)
            if not match or match.end() == pos:
                raise JuelError(f"cannot read {source[pos:].strip()!r} in ${{{source.strip()}}}")
            kind = match.lastgroup
            value = match.group(kind)
            if kind == "name" and value == "instanceof":
                raise JuelError("instanceof is not supported")
            if kind == "name" and value in _WORD_OPERATORS:
                kind, value = "op", _WORD_OPERATORS[value]
            tokens.append(_Token(kind, value))
            pos = match.end()
        if not tokens:
            raise JuelError("an empty expression")
        return tokens

    # -- helpers
    def peek(self, *values: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos].kind == "op" and \
            self.tokens[self.pos].value in values

    def take(self) -> _Token:
        if self.pos >= len(self.tokens):
            raise JuelError(f"${{{self.source.strip()}}} ends too early")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        token = self.take()
        if token.kind != "op" or token.value != value:
            raise JuelError(f"expected {value!r} but found {token.value!r} in ${{{self.source.strip()}}}")

    def parse(self) -> str:
        result = self.ternary()
        if self.pos != len(self.tokens):
            raise JuelError(f"cannot read {self.tokens[self.pos].value!r} in ${{{self.source.strip()}}}")
        return result

    # -- grammar, loosest first
    def ternary(self) -> str:
        condition = self.or_()
        if self.peek("?"):
            self.take()
            yes = self.ternary()
            self.expect(":")
            no = self.ternary()
            return f"({yes} if {condition} else {no})"
        return condition

    def _binary(self, operand, operators: dict[str, str]) -> str:
        left = operand()
        while self.peek(*operators):
            op = operators[self.take().value]
            right = operand()
            left = f"({left} {op} {right})"
        return left

    def or_(self) -> str:
        return self._binary(self.and_, {"||": "or", "or": "or"})

    def and_(self) -> str:
        return self._binary(self.equality, {"&&": "and", "and": "and"})

    def equality(self) -> str:
        return self._binary(self.relational, {"==": "==", "!=": "!="})

    def relational(self) -> str:
        return self._binary(self.additive, {"<": "<", ">": ">", "<=": "<=", ">=": ">="})

    def additive(self) -> str:
        return self._binary(self.multiplicative, {"+": "+", "-": "-"})

    def multiplicative(self) -> str:
        return self._binary(self.unary, {"*": "*", "/": "/", "%": "%"})

    def unary(self) -> str:
        if self.peek("!", "not"):
            self.take()
            return f"(not {self.unary()})"
        if self.peek("-"):
            self.take()
            return f"(-{self.unary()})"
        if self.peek("empty"):
            self.take()
            value = self.unary()
            return f"({value} is None or {value} == '' or {value} == [] or {value} == {{}})"
        return self.value()

    def value(self) -> str:
        token = self.take()
        if token.kind == "number":
            return token.value
        if token.kind == "string":
            return repr(_unquote(token.value))
        if token.kind == "op" and token.value == "(":
            inner = self.ternary()
            self.expect(")")
            return f"({inner})"
        if token.kind != "name":
            raise JuelError(f"unexpected {token.value!r} in ${{{self.source.strip()}}}")
        if token.value in _LITERALS:
            return _LITERALS[token.value]
        if token.value in REFUSED_ROOTS:
            raise JuelError(f"{token.value!r} is a Camunda engine object")
        result = token.value
        while self.peek(".", "[", "("):
            op = self.take().value
            if op == "(":
                raise JuelError(f"calls such as {result}(...) are not supported")
            if op == ".":
                name = self.take()
                if name.kind != "name" or self.peek("("):
                    raise JuelError(f"method calls such as .{name.value}(...) are not supported")
                result = f"{result}[{name.value!r}]"  # a property of a map is its entry
            else:
                index = self.ternary()
                self.expect("]")
                result = f"{result}[{index}]"
        return result


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


# -- documents -------------------------------------------------------------------------------------------
def _owner(node: etree._Element) -> etree._Element:
    """The flow element an expression belongs to (a sequence flow, a task, an event)."""
    owner = node.getparent()
    while owner is not None and owner.get("id") is None:
        owner = owner.getparent()
    return owner if owner is not None else node


_EXPRESSION_TAGS = ("conditionExpression", "condition", "completionCondition", "loopCardinality")
_TIMER_TAGS = ("timeDate", "timeDuration", "timeCycle")


def translate_document(root: etree._Element, filename: str) -> list[Finding]:
    """Rewrite the JUEL in a diagram's expression texts into Python, in place; a finding for each one refused.

    Conditions (sequence flows, conditional events), multi-instance cardinality and completion conditions, and
    timers are rewritten; bare ISO 8601 timer values are quoted. Expressions and scripts in another language
    (`language="groovy"`, `scriptFormat="javascript"`) are refused."""
    findings: list[Finding] = []
    for tag in _EXPRESSION_TAGS + _TIMER_TAGS:
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            text = node.text or ""
            owner = _owner(node)
            language = (node.get("language") or "").lower()
            if language and language not in ("python", "juel", "${", "http://www.w3.org/1999/xpath"):
                findings.append(_finding(f"{tag} is written in {language}", filename, owner, node))
                continue
            if is_juel(text):
                try:
                    node.text = translate(text)
                except JuelError as exc:
                    findings.append(_finding(f"JUEL {tag} {text.strip()!r} cannot be translated: {exc}",
                                             filename, owner, node))
            elif tag in _TIMER_TAGS and _ISO_TIMER.match(text.strip()):
                node.text = repr(text.strip())
    findings.extend(_camunda_collections(root, filename))
    for task in root.iter(f"{{{BPMN_NS}}}scriptTask"):
        language = (task.get("scriptFormat") or "").strip().lower()
        if language and language not in ("python", "python3", "text/x-python"):
            findings.append(Finding(code="script-language", message=f"the script is written in {language}",
                                    file=filename, element_id=task.get("id"), element_name=task.get("name"),
                                    line=task.sourceline, fix="write it as a Python script"))
    return findings


def _camunda_collections(root: etree._Element, filename: str) -> list[Finding]:
    """Camunda's multi-instance `camunda:collection="${items}" camunda:elementVariable="item"` as the BPMN
    loopDataInputRef/inputDataItem SpiffWorkflow reads."""
    findings = []
    for mi in root.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics"):
        collection = (mi.get(f"{{{CAMUNDA_NS}}}collection") or "").strip()
        if not collection or mi.find(f"{{{BPMN_NS}}}loopDataInputRef") is not None or \
                mi.find(f"{{{BPMN_NS}}}loopCardinality") is not None:
            continue
        try:
            name = translate(collection) if is_juel(collection) else collection
        except JuelError as exc:
            name, problem = None, str(exc)
        else:
            problem = None if name.isidentifier() else "it must name one variable"
        if problem:
            findings.append(_finding(f"multi-instance collection {collection!r} cannot be used: {problem}", filename,
                                     _owner(mi), mi))
            continue
        ref = etree.Element(f"{{{BPMN_NS}}}loopDataInputRef")
        ref.text = name
        mi.insert(0, ref)
        variable = (mi.get(f"{{{CAMUNDA_NS}}}elementVariable") or "").strip()
        if variable:
            item = etree.Element(f"{{{BPMN_NS}}}inputDataItem", id=variable, name=variable)
            after = mi.find(f"{{{BPMN_NS}}}loopDataOutputRef")
            mi.insert(mi.index(after if after is not None else ref) + 1, item)
    return findings


def _finding(message: str, filename: str, owner: etree._Element, node: etree._Element) -> Finding:
    return Finding(code="untranslatable-expression", message=message, file=filename, element_id=owner.get("id"),
                   element_name=owner.get("name"), line=node.sourceline, fix=FIX)
