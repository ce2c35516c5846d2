from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    """Shipments (邮政寄递): originals from the window to the authority, results to the
    applicant or back to the window; carriers behind one adapter interface."""

    name = "tongban.delivery"
    label = "delivery"
    verbose_name = _("Shipments")

    def ready(self) -> None:
        from tongban.delivery import federation

        federation.register()
