"""Routes of the single-page front end: every path the client-side router knows serves the shell."""

from django.urls import path

from spa.views import AppShellView

app_name = "spa"

shell = AppShellView.as_view()

urlpatterns = [
    path("", shell, name="index"),
    path("login/", shell, name="login"),
    path("products/", shell, name="products"),
    path("imports/", shell, name="imports"),
    path("imports/<int:pk>/", shell, name="import-detail"),
    path("account/", shell, name="account"),
    path("webhooks/", shell, name="webhooks"),
]
