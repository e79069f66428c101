"""Settings read from the environment, with an embedded SQLite default."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BPMN_DIR = REPO_ROOT / "bpmn"


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'rectiflow.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to be built; nothing connects at import time."""

    database_url: str = field(default_factory=_default_database_url)
    bpmn_dir: Path = DEFAULT_BPMN_DIR
    secret_key: str = "dev-only-change-me"
    echo_sql: bool = False
    # Evidence files live on disk, named by content hash; the database keeps only their metadata.
    upload_dir: Path = Path("uploads")
    max_upload_bytes: int = 10 * 1024 * 1024
    # Every BPMN script and expression: seconds it may run, characters/items a string or list it makes may have.
    script_time_budget: float = 2.0
    script_size_budget: int = 1_000_000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        """Build settings from RECTIFLOW_* variables; keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict = {}
        if env.get("RECTIFLOW_DATABASE_URL"):
            values["database_url"] = env["RECTIFLOW_DATABASE_URL"]
        if env.get("RECTIFLOW_BPMN_DIR"):
            values["bpmn_dir"] = Path(env["RECTIFLOW_BPMN_DIR"])
        if env.get("RECTIFLOW_SECRET_KEY"):
            values["secret_key"] = env["RECTIFLOW_SECRET_KEY"]
        if env.get("RECTIFLOW_ECHO_SQL") in ("1", "true", "yes"):
            values["echo_sql"] = True
        if env.get("RECTIFLOW_UPLOAD_DIR"):
            values["upload_dir"] = Path(env["RECTIFLOW_UPLOAD_DIR"])
        if env.get("RECTIFLOW_MAX_UPLOAD_BYTES"):
            values["max_upload_bytes"] = int(env["RECTIFLOW_MAX_UPLOAD_BYTES"])
        if env.get("RECTIFLOW_SCRIPT_TIME_BUDGET"):
            values["script_time_budget"] = float(env["RECTIFLOW_SCRIPT_TIME_BUDGET"])
        if env.get("RECTIFLOW_SCRIPT_SIZE_BUDGET"):
            values["script_size_budget"] = int(env["RECTIFLOW_SCRIPT_SIZE_BUDGET"])
        values.update(overrides)
        return cls(**values)
