"""instructionsForEndUser: sandboxed Jinja over the task data, Markdown with raw HTML escaped, bounded."""
from __future__ import annotations

from engine.process.instructions import render_instructions, template_problem


def test_markdown_and_data_render_with_html_escaped():
    html = render_instructions("# Hi {{ name }}\n\n<b>bold?</b> [x](javascript:alert(1))", {"name": "<i>Ann</i>"})
    assert "<h1>Hi &lt;i&gt;Ann&lt;/i&gt;</h1>" in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html and "<b>" not in html and 'href="javascript' not in html


def test_the_sandbox_refuses_attribute_tricks_and_huge_output():
    trick = render_instructions("{{ name.__class__.__mro__ }}", {"name": "x"})
    assert "SecurityError" in trick and "&lt;class" not in trick and "<class" not in trick
    assert "SecurityError" in render_instructions("{{ 'a' * 100000000 }}", {})
    assert "SecurityError" in render_instructions("{{ 9 ** 999999 }}", {})
    assert render_instructions("{{ 'ab' * 3 }}", {}) == "<p>ababab</p>\n"


def test_a_template_with_a_syntax_error_is_found_at_deploy():
    assert template_problem("Hello {{ name") is not None
    assert template_problem("Hello {{ name }}") is None
