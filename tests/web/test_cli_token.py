"""`rectiflow token`: create prints the token once, it authenticates, revoke ends it."""
from __future__ import annotations

import re
from datetime import timedelta

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


def test_token_create_sets_an_expiry_that_list_shows(database_url, services, world):
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, ["--database-url", database_url, "token", *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    default = run("create", "--user", "staff", "--name", "default")
    assert "expires " in default.stderr
    week = run("create", "--user", "staff", "--name", "week", "--expires-in-days", "7")
    forever = run("create", "--user", "staff", "--name", "forever", "--expires-in-days", "0")
    assert "never expires" in forever.stderr
    rows = {t.name: t for t in tokens.tokens_of(services, world.users.staff)}
    assert rows["default"].expires_at - rows["default"].created_at == timedelta(days=90)
    assert rows["week"].expires_at - rows["week"].created_at == timedelta(days=7)
    assert rows["forever"].expires_at is None
    listing = run("list", "--user", "staff").stdout
    assert "active until" in listing and "active, no expiry" in listing
    assert "Invalid value" in run("create", "--user", "staff", "--expires-in-days", "-1", code=2).output
    plaintext = week.stdout.strip().splitlines()[0]
    services.clock.set(rows["week"].expires_at - timedelta(seconds=1))  # the CLI ran on the real clock
    assert tokens.verify_token(services, plaintext) == world.users.staff
    services.clock.set(rows["week"].expires_at)
    with pytest.raises(NotAllowed, match="expired"):
        tokens.verify_token(services, plaintext)
