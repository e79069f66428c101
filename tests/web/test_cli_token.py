"""`rectiflow token`: create prints the token once, it authenticates, revoke ends it."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from engine.infra.errors import NotAllowed
from engine.org import tokens
from web.cli.main import main


def test_token_create_list_and_revoke_from_the_command_line(database_url, services, world):
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, ["--database-url", database_url, "token", *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    created = run("create", "--user", "security", "--name", "nightly")
    plaintext = created.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"rf_[A-Za-z0-9_-]{40,}", plaintext)
    assert tokens.verify_token(services, plaintext) == world.users.security
    token_id = re.search(r"token (\d+)", created.stderr).group(1)
    listing = run("list", "--user", "security").stdout
    assert "nightly" in listing and "active" in listing and plaintext not in listing
    assert "does not exist" in run("revoke", token_id, "--user", "staff", code=1).output
    assert f"revoked token {token_id}" in run("revoke", token_id).stdout
    with pytest.raises(NotAllowed, match="invalid API token"):
        tokens.verify_token(services, plaintext)
    assert "no active user" in run("create", "--user", "nobody", code=1).output
