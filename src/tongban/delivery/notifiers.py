"""Who tells a person about their appointment: a small interface and a registry by setting.

``TONGBAN_APPOINTMENT_NOTIFIERS`` lists the notifier classes (dotted paths); each gets every
message. The shipped ``RecordingNotifier`` keeps the message for the portal ("my
appointments") and logs it; an SMS gateway plugs in as another class.

Notifiers are called inside the transaction that claims the message (a reminder's claim, a
booking, a cancellation), so a notifier that raises leaves the claim unmade and the message is
tried again; a gateway outside the database may then send twice in the rare case where it
succeeded and the commit failed.
"""

from __future__ import annotations

import abc
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from tongban.core.logging import get_logger
from tongban.delivery.models import Appointment, AppointmentNotice

log = get_logger(__name__)


class Notifier(abc.ABC):
    @abc.abstractmethod
    def send(self, *, appointment: Appointment, kind: str, text: str) -> None:
        """Tell ``appointment.person`` ``text``; ``kind`` is a ``NoticeKind`` value."""


class RecordingNotifier(Notifier):
    """Keeps the message for the person's portal page and writes it to the log."""

    def send(self, *, appointment: Appointment, kind: str, text: str) -> None:
        AppointmentNotice.objects.create(
            person_id=appointment.person_id, appointment=appointment, kind=kind, text=text
        )
        log.info("appointment.notified", appointment=appointment.code, kind=kind)


@cache
def _load(paths: tuple[str, ...]) -> tuple[Notifier, ...]:
    return tuple(import_string(path)() for path in paths)


def notifiers() -> tuple[Notifier, ...]:
    return _load(tuple(settings.TONGBAN_APPOINTMENT_NOTIFIERS))


def notify(*, appointment: Appointment, kind: str, text: str) -> None:
    for notifier in notifiers():
        notifier.send(appointment=appointment, kind=kind, text=text)
