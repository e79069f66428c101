"""A task's `instructionsForEndUser`: a Jinja template over the task data (sandboxed), then Markdown with HTML off.

The designer writes e.g. "## Approve {{ amount }} 元\n\nCall **{{ requester }}** first." The template runs in
Jinja's SandboxedEnvironment (no attribute tricks, no file access); the result goes through markdown-it-py with
raw HTML disabled, so anything in the text or the data that looks like HTML is shown escaped, and links keep to
safe schemes. A template that fails shows its source text, escaped, instead of breaking the task page.
"""
from __future__ import annotations

import html
from uuid import UUID

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt

MAX_INSTRUCTIONS_CHARS = 20_000
MAX_RENDERED_CHARS = 100_000
_MAX_REPEAT = 10_000  # 'x' * n in a template: a bound, so a template cannot fill the memory
_MAX_EXPONENT = 100


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with `*` and `**` bounded (Jinja's sandbox leaves them to Python)."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator, left, right):
        if operator == "*" and any(isinstance(v, (str, list, tuple)) for v in (left, right)):
            count = right if isinstance(left, (str, list, tuple)) else left
            if isinstance(count, int) and count > _MAX_REPEAT:
                raise SecurityError(f"repeating something {count} times is not allowed")
        if operator == "**" and isinstance(right, (int, float)) and right > _MAX_EXPONENT:
            raise SecurityError(f"an exponent of {right} is not allowed")
        return super().call_binop(context, operator, left, right)


_jinja = _BoundedSandbox(autoescape=False)  # markdown-it escapes afterwards; escaping twice shows &amp;lt;
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def template_problem(text: str) -> str | None:
    """Why the template cannot be read (a syntax error), or None; checked at deploy."""
    if len(text) > MAX_INSTRUCTIONS_CHARS:
        return f"longer than {MAX_INSTRUCTIONS_CHARS} characters"
    try:
        _jinja.parse(text)
    except TemplateError as exc:
        return f"line {getattr(exc, 'lineno', '?')}: {exc.message or exc}"
    return None


def render_instructions(text: str | None, data: dict) -> str:
    """Safe HTML for the instructions: Jinja over `data`, then Markdown (HTML in the text or data is escaped)."""
    if not text:
        return ""
    try:
        markdown = _jinja.from_string(text[:MAX_INSTRUCTIONS_CHARS]).render(**_plain(data))[:MAX_RENDERED_CHARS]
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        return (f'<p class="text-danger">{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>'
                f"<pre>{html.escape(text)}</pre>")
    return _markdown.render(markdown)


def _plain(data: dict) -> dict:
    """Task data as template variables (only names a template can use)."""
    return {k: v for k, v in (data or {}).items() if isinstance(k, str) and k.isidentifier()}


def instructions_for(runtime, task) -> str:
    """The rendered instructions of a ready inbox task (HumanTask), or "" when its diagram has none."""
    definition = task.instance.definition
    text = (definition.task_meta.get(task.bpmn_id) or {}).get("instructions")
    if not text:
        return ""
    data = {}
    workflow = runtime.load(definition, task.instance.state_json)
    spiff_task = workflow.tasks.get(UUID(task.spiff_task_id))  # gone once compacted away
    if spiff_task is not None:
        data = spiff_task.data
    return render_instructions(text, data)
