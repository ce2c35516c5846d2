from django.urls import path

from tongban.workbench import appointment_views, datashare_views, license_views, signin, views

app_name = "workbench"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("login/", signin.StaffLoginView.as_view(), name="login"),
    path("login/code/", signin.login_code, name="login_code"),
    path("login/enrol/", signin.login_enrol, name="login_enrol"),
    path("login/recovery-codes/", signin.recovery_codes, name="recovery_codes"),
    path("receive/", views.receive, name="receive"),
    path("appointments/", appointment_views.day, name="appointments"),
    path("appointments/book/", appointment_views.book, name="appointment_book"),
    path("appointments/close/", appointment_views.close, name="appointment_close"),
    path(
        "appointments/<str:code>/<slug:action>/",
        appointment_views.act,
        name="appointment_act",
    ),
    path("verify/", views.verify, name="verify"),
    path("licenses/", license_views.register, name="licenses"),
    path("licenses/<str:identifier>/<slug:action>/", license_views.act, name="license_act"),
    path("datashare/", datashare_views.catalogue, name="datashare"),
    path("datashare/publish/", datashare_views.resource_new, name="datashare_publish"),
    path("datashare/resources/<str:ref>/", datashare_views.resource, name="datashare_resource"),
    path(
        "datashare/resources/<str:ref>/edit/",
        datashare_views.resource_edit,
        name="datashare_resource_edit",
    ),
    path("datashare/grants/", datashare_views.grants, name="datashare_grants"),
    path("datashare/grants/<uuid:uid>/", datashare_views.grant, name="datashare_grant"),
    path(
        "datashare/grants/<uuid:uid>/<slug:action>/",
        datashare_views.grant_act,
        name="datashare_grant_act",
    ),
    path("datashare/verify/", datashare_views.verify, name="datashare_verify"),
    path("datashare/calls/", datashare_views.calls, name="datashare_calls"),
    path("datashare/calls/<uuid:uid>/<slug:side>/", datashare_views.call, name="datashare_call"),
    path("datashare/disputes/", datashare_views.disputes, name="datashare_disputes"),
    path(
        "datashare/disputes/<uuid:uid>/resolve/",
        datashare_views.dispute_resolve,
        name="datashare_dispute_resolve",
    ),
    path("datashare/monitoring/", datashare_views.monitoring, name="datashare_monitoring"),
    path("authorisations/", views.authorisations, name="authorisations"),
    path(
        "authorisations/<int:authorisation_id>/revoke/",
        views.authorisation_revoke,
        name="authorisation_revoke",
    ),
    path("cases/<str:number>/", views.case_page, name="case"),
    path("cases/<str:number>/forward/", views.forward, name="forward"),
    path("cases/<str:number>/actions/<slug:action>/", views.case_action, name="case_action"),
    path("cases/<str:number>/shipments/", views.shipment_create, name="shipment_create"),
    path(
        "cases/<str:number>/shipments/<int:shipment_id>/steps/",
        views.shipment_step,
        name="shipment_step",
    ),
]
