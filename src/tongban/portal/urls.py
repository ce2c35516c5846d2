from django.urls import path

from tongban.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("themes/<slug:key>/", views.theme, name="theme"),
    path("items/<str:code>/", views.guide, name="guide"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.PortalLogoutView.as_view(), name="logout"),
    path("me/life-events/", views.life_events, name="life_events"),
    path("cases/<str:number>/notices/<slug:kind>/", views.case_notice, name="case_notice"),
]
