from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkbenchConfig(AppConfig):
    """Pages for staff: queues, case detail with the allowed actions, window intake. Thin:
    every read and write goes through the domains' selectors and services."""

    name = "tongban.workbench"
    label = "workbench"
    verbose_name = _("Workbench")
