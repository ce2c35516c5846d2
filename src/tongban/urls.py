from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from tongban.api.main import api
from tongban.core import views
from tongban.portal import sso_urls
from tongban.workbench.signin import admin_login

admin.site.site_header = _("tongban cross-province services — administration")
admin.site.site_title = _("tongban administration")
# format_lazy keeps the title lazy, so it follows the language of each request.
admin.site.index_title = format_lazy("{} {}", _("Node"), settings.TONGBAN_NODE_CODE)

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("api/v1/", api.urls),
    path("federation/v1/", include("tongban.exchange.urls")),
    path("federation/v1/datashare/", include("tongban.datashare.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Staff sign in in one place, with their authenticator code: the admin's login page too.
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("oidc/", include(sso_urls.provider_patterns)),
    path("sso/", include(sso_urls.client_patterns)),
    path("workbench/", include("tongban.workbench.urls")),
    path("", include("tongban.portal.urls")),
]
