"""The HTTP API: one router, mounted at /api/."""

from django.urls import path

app_name = "api"

urlpatterns: list = []
