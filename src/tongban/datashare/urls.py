from django.urls import path

from tongban.datashare import views

app_name = "datashare"
urlpatterns = [
    path("call", views.call, name="call"),
    path("catalogue", views.catalogue, name="catalogue"),
]
