from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LicensesConfig(AppConfig):
    """Electronic licences (电子证照) and the seals (电子印章) that sign them."""

    name = "tongban.licenses"
    label = "licenses"
    verbose_name = _("Electronic licences")

    def ready(self) -> None:
        from tongban.cases import effects
        from tongban.licenses import services

        effects.register("license", services.license_issue)
