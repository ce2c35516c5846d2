from django.urls import path

from tongban.exchange import views

app_name = "federation"
urlpatterns = [
    path("trust-list", views.trust_list, name="trust_list"),
    path("nodes", views.register_node, name="register_node"),
    path("inbox", views.inbox, name="inbox"),
    path("relay", views.relay, name="relay"),
    path("blobs/<slug:kind>/<slug:ref>", views.blob, name="blob"),
    path("relay/blobs/<slug:node>/<slug:kind>/<slug:ref>", views.relay_blob, name="relay_blob"),
]
