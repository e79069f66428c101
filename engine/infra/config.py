"""Settings read from the environment, with an embedded SQLite default."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BPMN_DIR = REPO_ROOT / "bpmn"


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'rectiflow.sqlite3'}"


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, not {raw!r}")


OIDC_MATCHES = ("employee_no", "email")


def _oidc_match(raw: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in raw.split(",") if part.strip())
    unknown = [part for part in chosen if part not in OIDC_MATCHES]
    if unknown or not chosen:
        raise ValueError(f"RECTIFLOW_OIDC_MATCH: expected a comma-separated list of {OIDC_MATCHES}, not {raw!r}")
    return chosen


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
    # Sign-in and sessions (web/auth.py). Cookie `Secure` flags: None means on when RECTIFLOW_ENV=production.
    session_cookie_secure: bool | None = None
    remember_cookie_secure: bool | None = None
    session_hours: float = 12  # a browser session ends this long after sign-in
    remember_days: int = 14  # the opt-in remember-me cookie's lifetime, checked by the server too
    # Failed sign-ins per client address (Flask-Limiter); memory:// is per worker, use redis://… for several.
    ratelimit_storage_uri: str = "memory://"
    login_rate_limit: str = "10 per minute;50 per hour"
    lockout_failures: int = 5  # consecutive failures that lock an account…
    lockout_minutes: int = 15  # …for this long
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust (0: none); the per-address limit
    # needs the client's address, not the proxy's.
    proxy_hops: int = 0
    # OpenID Connect sign-in from a school's identity system (web/oidc.py); off while no issuer is set. The issuer is
    # the discovery base (issuer + /.well-known/openid-configuration). A user is matched by the 工号 claim and/or a
    # verified e-mail (oidc_match, in that order); with oidc_jit_org (an org node code) an unknown user is created
    # there, with no roles and no usable local password. An empty label means the default 统一身份认证登录.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_match: tuple[str, ...] = ("employee_no", "email")
    oidc_employee_claim: str = "employee_no"
    oidc_jit_org: str = ""
    oidc_label: str = ""

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
        for name in ("session_cookie_secure", "remember_cookie_secure"):
            raw = env.get(f"RECTIFLOW_{name.upper()}")
            if raw:
                values[name] = _flag(raw)
        if env.get("RECTIFLOW_SESSION_HOURS"):
            values["session_hours"] = float(env["RECTIFLOW_SESSION_HOURS"])
        for name in ("remember_days", "lockout_failures", "lockout_minutes", "proxy_hops"):
            if env.get(f"RECTIFLOW_{name.upper()}"):
                values[name] = int(env[f"RECTIFLOW_{name.upper()}"])
        if env.get("RECTIFLOW_RATELIMIT_STORAGE_URI"):
            values["ratelimit_storage_uri"] = env["RECTIFLOW_RATELIMIT_STORAGE_URI"]
        if env.get("RECTIFLOW_LOGIN_RATE_LIMIT"):
            values["login_rate_limit"] = env["RECTIFLOW_LOGIN_RATE_LIMIT"]
        for name in ("oidc_client_id", "oidc_client_secret", "oidc_employee_claim", "oidc_jit_org", "oidc_label"):
            if env.get(f"RECTIFLOW_{name.upper()}"):
                values[name] = env[f"RECTIFLOW_{name.upper()}"].strip()
        if env.get("RECTIFLOW_OIDC_ISSUER"):
            values["oidc_issuer"] = env["RECTIFLOW_OIDC_ISSUER"].strip().rstrip("/")
        if env.get("RECTIFLOW_OIDC_MATCH"):
            values["oidc_match"] = _oidc_match(env["RECTIFLOW_OIDC_MATCH"])
        values.update(overrides)
        return cls(**values)
