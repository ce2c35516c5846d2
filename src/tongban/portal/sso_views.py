"""Single sign-on pages and endpoints.

On the hub, ``/oidc/…``: the OpenID Connect provider (django-oauth-toolkit's views, with the
hub's authorization rules) and the identity endpoint. On a province's node, ``/sso/…``: the
sign-in redirect, the callback, and the back-channel logout endpoint. Everything here is thin:
the rules live in ``tongban.accounts.sso``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider import views as oauth_views
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_backends import get_oauthlib_core

from tongban.accounts.sso import client, provider
from tongban.core.errors import DomainError, NotFound, error_response

# The hub: the provider -----------------------------------------------------------------------


def hub_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The provider's endpoints exist on the hub only; elsewhere they are not found."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not provider.is_provider():
            raise NotFound()
        return view(request, *args, **kwargs)

    return wrapped


class HubAuthorizationView(oauth_views.AuthorizationView):
    """The authorization endpoint: a person signed in at the hub (or sent to its login page
    first) is sent back to the node with a code. Staff accounts do not sign in elsewhere."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            provider.authorization_check(request.user)
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        provider.authorization_check(request.user)
        return super().post(request, *args, **kwargs)

    def create_authorization_response(
        self, request: HttpRequest, scopes: Any, credentials: dict[str, Any], allow: bool
    ) -> Any:
        # The code remembers the hub session, so its ID token can name it (``sid``).
        credentials["tongban_sid"] = provider.session_sid(request.session)
        return super().create_authorization_response(request, scopes, credentials, allow)


@hub_only
@never_cache
@require_GET
def identity(request: HttpRequest) -> HttpResponse:
    """The person's ID number and phone, for the node holding their access token, encrypted
    to that node."""
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=["openid"])
    # An access token only: oauthlib also takes an ID token as a bearer token, and ID tokens
    # travel through browsers (the logout's id_token_hint).
    if not valid or not isinstance(
        getattr(oauth_request, "access_token", None), get_access_token_model()
    ):
        return JsonResponse(
            {"code": "invalid_token", "message": "The access token is not valid.", "fields": {}},
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    try:
        body = provider.identity_release(
            user=oauth_request.user, client_id=oauth_request.client.client_id
        )
    except DomainError as error:
        return error_response(error)
    return JsonResponse(body)


authorize = hub_only(HubAuthorizationView.as_view())
token = hub_only(oauth_views.TokenView.as_view())
discovery = hub_only(oauth_views.ConnectDiscoveryInfoView.as_view())
jwks = hub_only(oauth_views.JwksInfoView.as_view())
userinfo = hub_only(oauth_views.UserInfoView.as_view())
end_session = hub_only(oauth_views.RPInitiatedLogoutView.as_view())


# A province's node: the relying party --------------------------------------------------------


def _node_only(request: HttpRequest) -> None:
    if not client.enabled():
        raise NotFound()


@never_cache
@require_GET
def sso_login(request: HttpRequest) -> HttpResponse:
    """Off to the hub to sign in."""
    _node_only(request)
    next_url = client.safe_next(request.GET.get("next"), host=request.get_host())
    if request.user.is_authenticated:
        return redirect(next_url)
    # none: only if already signed in there (无感切换); create: open an account there first.
    prompt = request.GET.get("prompt", "")
    prompt = prompt if prompt in {"none", "create"} else ""
    return HttpResponseRedirect(
        client.login_start(request.session, next_url=next_url, prompt=prompt)
    )


@never_cache
@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    """Back from the hub: check everything, then sign the person in here."""
    _node_only(request)
    params = {k: str(v)[:4096] for k, v in request.GET.items()}
    if params.get("error") in client.NOT_SIGNED_IN and params.get("state", "") not in (
        request.session.get(client.FLOWS) or {}
    ):
        # A silent check from a browser that keeps no cookies: show the page, ask no more.
        return redirect("/?sso=0")
    outcome = client.login_finish(request.session, params=params)
    if isinstance(outcome, str):
        return redirect(outcome)
    login(request, outcome.user, backend="django.contrib.auth.backends.ModelBackend")
    client.session_opened(request.session, outcome)
    return redirect(outcome.next_url)


@csrf_exempt
@never_cache
@require_POST
def sso_backchannel_logout(request: HttpRequest) -> HttpResponse:
    """The hub says a hub session ended (OpenID Connect Back-Channel Logout 1.0)."""
    _node_only(request)
    try:
        client.backchannel_logout(token=str(request.POST.get("logout_token", "")))
    except DomainError as error:
        return error_response(error)
    return HttpResponse(status=200, headers={"Cache-Control": "no-store"})
