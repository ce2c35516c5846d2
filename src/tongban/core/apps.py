from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "tongban.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from tongban.core import logging, metrics

        logging.configure(fmt=settings.TONGBAN_LOG_FORMAT, level=settings.TONGBAN_LOG_LEVEL)
        metrics.register_collectors()
