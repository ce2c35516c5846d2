"""Background work of cases (django-tasks; `tongban worker` runs it)."""

from __future__ import annotations

from django_tasks import task

from tongban.cases import federation


@task()
def fetch_materials() -> int:
    """Fetch the files handed in at other nodes (enqueued when their handles arrive; what
    fails is tried again by `tongban exchange tick`)."""
    return federation.materials_fetch()
