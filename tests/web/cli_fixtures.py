"""The `cli` fixture: run `rectiflow ...` in-process against the test database and return its output."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from web.cli.main import main


@pytest.fixture
def cli(database_url):
    """Factory: `cli("tasks", "--user", "security")` runs the command, asserts its exit code (0 unless `code=`)."""
    runner = CliRunner()

    def run(*args, code=0, input_=None):
        result = runner.invoke(main, ["--database-url", database_url, *args], catch_exceptions=False, input=input_)
        assert result.exit_code == code, result.output
        return result.output

    return run
