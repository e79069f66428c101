"""`rectiflow demo` serves the UI after building the data; `rectiflow serve` runs it against any database."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

import web.cli.web
from web.cli.main import main


@pytest.fixture
def served(monkeypatch):
    """Record run_server calls instead of blocking in a server loop."""
    calls = []
    monkeypatch.setattr(web.cli.web, "run_server", lambda settings, host, port: calls.append((settings, host, port)))
    return calls


def test_demo_builds_the_data_then_serves_the_ui_and_prints_its_url(database_url, served):
    result = CliRunner().invoke(main, ["--database-url", database_url, "demo", "--port", "5077"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "demo1234" in result.output and "http://127.0.0.1:5077/" in result.output
    assert result.output.index("demo1234") < result.output.index("http://127.0.0.1:5077/")
    (settings, host, port), = served
    assert (settings.database_url, host, port) == (database_url, "127.0.0.1", 5077)


def test_demo_no_serve_only_builds_the_data(database_url, served):
    result = CliRunner().invoke(main, ["--database-url", database_url, "demo", "--no-serve"], catch_exceptions=False)
    assert result.exit_code == 0 and "http://" not in result.output and served == []


def test_serve_runs_the_ui_on_the_given_host_and_port(served):
    result = CliRunner().invoke(main, ["--database-url", "sqlite:///x.sqlite3", "serve", "--host", "0.0.0.0",
                                       "--port", "8080"], catch_exceptions=False)
    assert result.exit_code == 0 and "http://127.0.0.1:8080/" in result.output
    assert [(h, p) for _, h, p in served] == [("0.0.0.0", 8080)]
    assert "--host" in CliRunner().invoke(main, ["serve", "--help"]).output
