"""`rectiflow serve`: the web UI on a host and port (a development server; use gunicorn in production)."""
from __future__ import annotations

import click
from sqlalchemy.exc import DBAPIError

from engine.admin import first_run

from web.app import create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000


def run_server(settings, host: str, port: int) -> None:
    """Serve the app with Werkzeug's threaded server until interrupted."""
    from werkzeug.serving import run_simple

    app = create_app(settings)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}"


def print_urls(host: str, port: int) -> None:
    """Tell the operator where the UI is."""
    click.secho(f"Web UI: {_base_url(host, port)}/  (Ctrl+C to stop)", fg="green", bold=True)


def print_setup_code(obj, host: str, port: int) -> None:
    """On a database with no administrator yet, where the first-run page is and its setup code."""
    try:
        with obj.services.uow() as uow:
            if first_run.has_admin(uow.session):
                return
    except DBAPIError:  # no schema yet (`rectiflow db upgrade` makes it): the app will say so itself
        return
    click.secho(f"No administrator yet: open {_base_url(host, port)}/setup with the setup code "
                f"{first_run.setup_code(obj.settings.secret_key)}", fg="yellow", bold=True)


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="TCP port.")
@click.pass_obj
def serve_cmd(obj, host: str, port: int) -> None:
    """Run the web UI against the configured database (use gunicorn for several workers)."""
    print_urls(host, port)
    print_setup_code(obj, host, port)
    run_server(obj.settings, host, port)
