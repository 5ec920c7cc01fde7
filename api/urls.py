"""The HTTP API: one router, mounted at /api/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from api import auth, tus
from api.events import ImportJobEventsView
from api.imports import ImportJobViewSet
from api.products import ProductViewSet
from api.root import ApiDocsView, ApiNotFoundView, ApiRootView
from api.webhooks import WebhookViewSet

app_name = "api"

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("imports", ImportJobViewSet, basename="import")
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns: list = [
    path("", ApiRootView.as_view(), name="root"),
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
    path("docs/", ApiDocsView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
    # Last: every other path under /api/ is a JSON 404, not Django's HTML page.
    path("<path:unknown>", ApiNotFoundView.as_view(), name="not-found"),
]
