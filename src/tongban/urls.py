from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from tongban.api.main import api
from tongban.core import views

admin.site.site_header = _("tongban cross-province services — administration")
admin.site.site_title = _("tongban administration")
admin.site.index_title = _("Node %(code)s") % {"code": settings.TONGBAN_NODE_CODE}

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
