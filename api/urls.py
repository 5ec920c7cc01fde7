"""The HTTP API: one router, mounted at /api/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from api import auth, tus
from api.events import ImportJobEventsView
from api.imports import ImportJobViewSet
from api.products import ProductViewSet

app_name = "api"

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("imports", ImportJobViewSet, basename="import")

urlpatterns: list = [
    # Before the router's imports/<pk>/ routes, so it is matched first.
    path("imports/<int:pk>/events/", ImportJobEventsView.as_view(), name="import-events"),
    path("uploads/", tus.UploadCreateView.as_view(), name="tus-upload-create"),
    path("uploads/<str:upload_id>", tus.UploadDetailView.as_view(), name="tus-upload-detail"),
    path("auth/csrf/", auth.CsrfView.as_view(), name="auth-csrf"),
    path("auth/login/", auth.LoginView.as_view(), name="auth-login"),
    path("auth/logout/", auth.LogoutView.as_view(), name="auth-logout"),
    path("auth/me/", auth.MeView.as_view(), name="auth-me"),
    path("auth/token/", auth.TokenView.as_view(), name="auth-token"),
    path("auth/token/regenerate/", auth.TokenRegenerateView.as_view(), name="auth-token-regenerate"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
]
