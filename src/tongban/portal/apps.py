from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """Pages for applicants. Thin: every read goes through the domains' selectors."""

    name = "tongban.portal"
    label = "portal"
    verbose_name = _("Portal")
