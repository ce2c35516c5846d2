"""Background work of accounts (django-tasks; `tongban worker` runs it)."""

from __future__ import annotations

import time

from django_tasks import task

from tongban.accounts.sso import provider

BACKCHANNEL_TRIES = (0.0, 1.0, 4.0)  # seconds to wait before each try


@task()
def sso_backchannel_logout(*, client_id: str, sid: str, subject: str) -> bool:
    """Tell node ``client_id`` that hub session ``sid`` ended. A few quick tries: a node that
    stays unreachable keeps its local session until that session expires on its own."""
    for pause in BACKCHANNEL_TRIES:
        time.sleep(pause)
        if provider.backchannel_send(client_id=client_id, sid=sid, subject=subject):
            return True
    return False
