"""``sitetwin serve``: the dashboard and API on Werkzeug's development server (gunicorn in production)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from webapp.cli.common import ensure_database


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Serve the dashboard and the upload API for development (captures are processed in-process).

    In production run gunicorn instead: ``gunicorn 'webapp:create_app()'`` (docs/deployment.md)."""
    ensure_database()
    app = current_app._get_current_object()
    if app.config["SITETWIN_JOBS"] == "thread" and not app.config["CELERY_BROKER_URL"]:
        from webapp.jobs import start_sweeper

        start_sweeper(app)  # take up at once what a previous life of this server left in processing
    click.echo(f"SiteTwin on http://{host}:{port}/ (development server; Ctrl-C stops it)", err=True)
    # Werkzeug directly: Flask ignores app.run() inside a `flask`/`sitetwin` command.
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
