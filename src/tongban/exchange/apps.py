from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    """Node identity, the trust list, and signed messages between nodes. Knows no domain:
    domains put messages in through its services and register handlers for what arrives."""

    name = "tongban.exchange"
    label = "exchange"
    verbose_name = _("Exchange between nodes")

    def ready(self) -> None:
        from tongban.exchange import probes

        probes.register()
