from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "tongban.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_save

        from tongban.accounts import signals
        from tongban.accounts.sso import client
        from tongban.exchange import messaging
        from tongban.exchange.models import Node

        user_logged_in.connect(signals.on_logged_in, dispatch_uid="tongban.audit_logged_in")
        user_logged_out.connect(signals.on_logged_out, dispatch_uid="tongban.audit_logged_out")
        user_login_failed.connect(signals.on_login_failed, dispatch_uid="tongban.audit_failed")
        # Single sign-on: registered nodes are the hub's clients; a hub logout reaches them.
        post_save.connect(_node_saved, sender=Node, dispatch_uid="accounts.sso.node_saved")
        user_logged_out.connect(_logged_out, dispatch_uid="accounts.sso.logged_out")
        messaging.register_sweep("sso-housekeeping", client.housekeeping)


def _node_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """On the hub, a node registered (or re-registered with a new URL) is an SSO client."""
    from tongban.accounts.sso import provider

    if provider.is_provider():
        provider.client_ensure(instance)


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A hub session ended: tell the nodes it signed in to."""
    from tongban.accounts.sso import provider

    if request is not None and provider.is_provider() and hasattr(request, "session"):
        provider.on_hub_logout(sid=request.session.get(provider.SESSION_SID, ""))
