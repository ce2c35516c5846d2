from django.urls import path

from tongban.workbench import views

app_name = "workbench"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("login/", views.StaffLoginView.as_view(), name="login"),
    path("receive/", views.receive, name="receive"),
    path("verify/", views.verify, name="verify"),
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
