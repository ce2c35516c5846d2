from django.urls import path

from tongban.portal import account_views, appointment_views, case_views, license_views, views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("themes/<slug:key>/", views.theme, name="theme"),
    path("items/<str:code>/", views.guide, name="guide"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.PortalLogoutView.as_view(), name="logout"),
    path("signup/", views.sign_up, name="signup"),
    path("me/life-events/", views.life_events, name="life_events"),
    path("me/", account_views.account, name="account"),
    path(
        "me/verification/<slug:key>/start/",
        account_views.verification_start,
        name="verification_start",
    ),
    path("me/enterprises/<str:uscc>/", account_views.enterprise, name="enterprise"),
    path(
        "me/enterprises/<str:uscc>/members/<int:person_id>/remove/",
        account_views.enterprise_member_remove,
        name="enterprise_member_remove",
    ),
    path("me/authorisations/", account_views.authorisations, name="authorisations"),
    path(
        "me/authorisations/<int:authorisation_id>/revoke/",
        account_views.authorisation_revoke,
        name="authorisation_revoke",
    ),
    path("items/<str:code>/apply/", case_views.apply, name="apply"),
    path("me/cases/", case_views.my_cases, name="my_cases"),
    path("appointments/book/", appointment_views.book, name="book_appointment"),
    path("me/appointments/", appointment_views.mine, name="my_appointments"),
    path(
        "me/appointments/<str:code>/cancel/",
        appointment_views.cancel,
        name="cancel_appointment",
    ),
    path("me/licenses/", license_views.my_licenses, name="my_licenses"),
    path("me/licenses/<str:identifier>/", license_views.my_license, name="my_license"),
    path("me/licenses/<str:identifier>/pdf", license_views.my_license_pdf, name="my_license_pdf"),
    path("licenses/p/<str:token>/", license_views.license_presented, name="license_presented"),
    path("licenses/verify/", license_views.license_verify, name="license_verify"),
    path("cases/<str:number>/", case_views.case_page, name="case"),
    path("cases/<str:number>/actions/<slug:action>/", case_views.case_action, name="case_action"),
    path("cases/<str:number>/materials/", case_views.case_upload, name="case_upload"),
    path("cases/<str:number>/notices/<slug:kind>/", views.case_notice, name="case_notice"),
]
