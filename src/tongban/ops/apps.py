from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Running a node: ``tongban init``, ``serve`` and ``worker``. May call every domain;
    no domain imports it."""

    name = "tongban.ops"
    label = "ops"
    verbose_name = _("Node operation")
