from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DatashareConfig(AppConfig):
    """Data sharing between agencies (数据共享): resources, grants, calls, evidence, disputes."""

    name = "tongban.datashare"
    label = "datashare"
    verbose_name = _("Data sharing")

    def ready(self) -> None:
        from tongban.datashare import metrics, services
        from tongban.exchange import messaging

        messaging.register_handler(services.GRANT_REQUESTED, services.on_grant_requested)
        messaging.register_handler(services.GRANT_DECIDED, services.on_grant_decided)
        messaging.register_handler(services.GRANT_WITHDRAWN, services.on_grant_withdrawn)
        messaging.register_handler(services.DISPUTE_RAISED, services.on_dispute_raised)
        messaging.register_handler(services.DISPUTE_RESOLVED, services.on_dispute_resolved)
        # Peers' resource catalogues, refreshed by `tongban exchange tick`.
        messaging.register_sweep("datashare_catalogues", services.catalogue_sync)
        metrics.register_collectors()
