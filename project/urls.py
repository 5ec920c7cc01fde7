"""Top-level routes: the API, the admin and the single-page front end."""

from django.contrib import admin
from django.urls import include, path

from project.health import HealthView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", HealthView.as_view(), name="healthz"),
    # Sign-in pages for DRF's browsable API.
    path("api-auth/", include("rest_framework.urls")),
    path("api/", include("api.urls")),
    path("", include("spa.urls")),
]
