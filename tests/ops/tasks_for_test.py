"""A trivial background task for the worker test (django-tasks imports it by module path)."""

from __future__ import annotations

from django_tasks import task


@task()
def add(a: int, b: int) -> int:
    return a + b
