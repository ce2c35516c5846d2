from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LicensesConfig(AppConfig):
    """Electronic licences (电子证照) and the seals (电子印章) that sign them."""

    name = "tongban.licenses"
    label = "licenses"
    verbose_name = _("Electronic licences")

    def ready(self) -> None:
        from tongban.cases import effects
        from tongban.exchange import messaging
        from tongban.exchange import services as exchange
        from tongban.licenses import services

        effects.register("license", services.license_issue)
        # This node's issuers and seal keys travel in its registration to the trust list.
        exchange.issuer_source_register(services.issuer_entries)
        # Other nodes' revocation lists, fetched as deltas by `tongban exchange tick`.
        messaging.register_sweep("license_revocations", services.revocations_sync)
