"""URLs of single sign-on: the hub's provider under /oidc/ (the names django-oauth-toolkit's
views reverse, in its namespace), a node's relying party under /sso/."""

from django.urls import path, re_path

from tongban.portal import sso_views

provider_patterns = (
    [
        path("authorize/", sso_views.authorize, name="authorize"),
        path("token/", sso_views.token, name="token"),
        re_path(
            r"^\.well-known/openid-configuration/?$",
            sso_views.discovery,
            name="oidc-connect-discovery-info",
        ),
        path(".well-known/jwks.json", sso_views.jwks, name="jwks-info"),
        path("userinfo/", sso_views.userinfo, name="user-info"),
        path("logout/", sso_views.end_session, name="rp-initiated-logout"),
        path("identity/", sso_views.identity, name="identity"),
    ],
    "oauth2_provider",
)

client_patterns = (
    [
        path("login/", sso_views.sso_login, name="login"),
        path("callback/", sso_views.sso_callback, name="callback"),
        path("backchannel-logout/", sso_views.sso_backchannel_logout, name="backchannel_logout"),
    ],
    "sso",
)
