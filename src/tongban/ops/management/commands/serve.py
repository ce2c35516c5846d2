from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.core.logging import get_logger

log = get_logger(__name__)


class Command(BaseCommand):
    help = (
        "Serve this node over HTTP (granian, WSGI) together with a background worker. "
        "Stops both when either exits or on Ctrl-C / SIGTERM."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("TONGBAN_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TONGBAN_PORT", "8000")))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("TONGBAN_WEB_WORKERS", "2"))
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=default_threads(),
            help="Python threads per web process (requests served at once by each).",
        )
        parser.add_argument("--no-worker", action="store_true", help="Serve HTTP only.")

    def handle(self, *args: Any, **options: Any) -> None:
        pending = _pending_migrations()
        if pending:
            # Serving an older schema answers every request touching new tables with a 500.
            raise CommandError(
                f"{len(pending)} database migration(s) not applied (e.g. {pending[0]}): "
                "run `tongban init` first"
            )
        run_dir = settings.TONGBAN_DATA_DIR / "run"
        metrics_dir = run_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        call_command("collectstatic", interactive=False, verbosity=0)

        env = dict(os.environ)
        env["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
        # Server processes share one directory so /metrics adds up all of them.
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if not options["no_worker"]:
            # Messages to peers go as they are committed, by the deliver process below.
            env["TONGBAN_OUTBOX_DELIVERER"] = "1"
        commands = {
            "web": web_command(
                host=options["host"],
                port=options["port"],
                workers=options["workers"],
                threads=options["threads"],
            ),
        }
        if not options["no_worker"]:
            commands["worker"] = [sys.executable, "-m", "tongban", "worker"]
            # Appointment reminders every 5 minutes; deemed acceptance and deadline alerts
            # hourly (one process for both).
            commands["tick"] = [sys.executable, "-m", "tongban", "tick", "--every", "300"]
            commands["deliver"] = [sys.executable, "-m", "tongban", "exchange", "deliver"]
            # The trust list, retries and the inbox sweep: within a minute.
            commands["exchange"] = [
                sys.executable,
                "-m",
                "tongban",
                "exchange",
                "tick",
                "--every",
                "60",
            ]

        children = {name: subprocess.Popen(argv, env=env) for name, argv in commands.items()}  # noqa: S603
        log.info(
            "node.serving",
            host=options["host"],
            port=options["port"],
            node=settings.TONGBAN_NODE_CODE,
        )
        self.stdout.write(
            f"serving node {settings.TONGBAN_NODE_CODE} on http://{options['host']}:{options['port']}/"
        )

        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, child in children.items():
                    code = child.poll()
                    if code is not None:
                        log.error("node.child_exited", child=name, code=code)
                        exit_code = code or 1
                        stopping = True
                        break
                time.sleep(0.3)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        if exit_code:
            raise CommandError(f"a child process exited with code {exit_code}")


def default_threads() -> int:
    # granian's guideline for WSGI: at most 2 × cores + 1 threads per process.
    return int(os.environ.get("TONGBAN_WEB_THREADS", str(2 * (os.cpu_count() or 1) + 1)))


def web_command(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    """The web server's command line (granian, WSGI); `tongban bench cases` starts the same."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        # A database-bound WSGI app gains nothing from hundreds of threads per
        # process: bound them, and let granian queue the requests beyond them.
        # NOTE: no --backpressure equal to the threads: granian counts every open connection
        # against it, idle keep-alive ones included, so the next client would wait ~30 s for
        # one of them to time out (measured with `tongban bench cases`).
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "tongban.wsgi:application",
    ]


def _pending_migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
