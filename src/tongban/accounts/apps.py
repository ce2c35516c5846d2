from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "tongban.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from tongban.accounts import signals

        user_logged_in.connect(signals.on_logged_in, dispatch_uid="tongban.audit_logged_in")
        user_logged_out.connect(signals.on_logged_out, dispatch_uid="tongban.audit_logged_out")
        user_login_failed.connect(signals.on_login_failed, dispatch_uid="tongban.audit_failed")
