"""Background delivery of the outbox (django-tasks; `tongban worker` runs it)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from tongban.exchange import messaging


@task()
def deliver_outbox() -> int:
    """Send what is due; if messages wait for a later retry, come back then."""
    sent = messaging.outbox_deliver()
    due = messaging.next_due()
    if due is not None:
        deliver_outbox.using(run_after=max(due, timezone.now())).enqueue()
    return sent
