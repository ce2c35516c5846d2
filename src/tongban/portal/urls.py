from django.urls import path

from tongban.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("themes/<slug:key>/", views.theme, name="theme"),
    path("items/<str:code>/", views.guide, name="guide"),
]
