"""Background delivery of the outbox (django-tasks; `tongban worker` runs it)."""

from __future__ import annotations

from django_tasks import task

from tongban.exchange import messaging


@task()
def deliver_outbox() -> int:
    """Send what is due now. Each commit that writes to the outbox enqueues one run; retries
    that come due later are swept by `tongban exchange tick` (every minute under `serve`), so
    runs never multiply."""
    return messaging.outbox_deliver()
