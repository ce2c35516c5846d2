from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django_tasks_db.apps import TasksAppConfig


class OpsConfig(AppConfig):
    """Running a node: ``tongban init``, ``serve`` and ``worker``. May call every domain;
    no domain imports it."""

    name = "tongban.ops"
    label = "ops"
    verbose_name = _("Node operation")


class BackgroundTasksConfig(TasksAppConfig):
    """django-tasks' database backend, named in the node's language in the admin."""

    verbose_name = _("Background tasks")  # type: ignore[assignment]  # lazy, as Django allows
