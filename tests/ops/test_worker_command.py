"""`tongban worker` runs background tasks from the django-tasks database backend."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_tasks import TaskResultStatus, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from tests.ops.tasks_for_test import add

# The worker manages its own database connection (it closes it between polls), which a test
# wrapped in a transaction cannot survive on PostgreSQL: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.backend.DatabaseBackend"}}


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """db_worker installs signal handlers and log handlers in this (the test) process."""
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT]
    handlers: dict[int, Any] = {number: signal.getsignal(number) for number in signals}
    loggers = [logging.getLogger(name) for name in ("django_tasks", "django_tasks_db")]
    before = [(log, list(log.handlers), log.level) for log in loggers]
    yield
    for number, handler in handlers.items():
        signal.signal(number, handler)
    for log, log_handlers, level in before:
        log.handlers[:] = log_handlers
        log.setLevel(level)


@override_settings(TASKS=DATABASE_TASKS)
def test_the_worker_runs_an_enqueued_task() -> None:
    # django-tasks resets its cached backends when TASKS changes (a setting_changed receiver).
    assert isinstance(task_backends["default"], DatabaseBackend)
    result = add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    assert DBTaskResult.objects.filter(id=result.id, status=TaskResultStatus.READY).exists()

    call_command("worker", "--max-tasks", "1", "--interval", "0.1", stdout=StringIO())

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5


@override_settings(TASKS=DATABASE_TASKS)
def test_the_worker_records_a_failing_task() -> None:
    result = add.enqueue(2, "three")
    call_command("worker", "--max-tasks", "1", "--interval", "0.1", stdout=StringIO())
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TypeError
