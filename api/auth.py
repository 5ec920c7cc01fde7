"""Authentication endpoints: session login for the browser, tokens for scripts.

CSRF. Session-authenticated writes are CSRF-checked by DRF's ``SessionAuthentication``. Login
is checked too, although nobody is signed in yet: otherwise another site could post its own
credentials and sign the victim's browser into the attacker's account ("login CSRF"), so that
files the victim then imports land in the attacker's history. The front end first calls
``GET /api/auth/csrf/`` and sends the token back as ``X-CSRFToken``. Login rotates the CSRF
token, so the browser must use the new ``csrftoken`` cookie afterwards.

The token endpoint needs no CSRF token: it creates no session, and a cross-site page cannot read
the token it returns.
"""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.db import transaction
from django.middleware.csrf import get_token
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers import (
    CredentialsSerializer,
    CsrfTokenSerializer,
    ErrorSerializer,
    TokenSerializer,
    UserSerializer,
)

LOGIN_THROTTLED = (
    "Too many failed sign-in attempts from this address or for this username; Retry-After says "
    "when to try again."
)


def auth_token_get_or_create(*, user) -> Token:
    """The user's API token, created on first use."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def auth_token_regenerate(*, user) -> Token:
    """Replace the user's API token; the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


class CsrfView(APIView):
    """Set the ``csrftoken`` cookie and return the token, for the front end's first request."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=CsrfTokenSerializer, tags=["auth"])
    def get(self, request: Request) -> Response:
        # get_token() marks the cookie for CsrfViewMiddleware to set on the response.
        return Response({"csrf_token": get_token(request._request)})


class LoginView(APIView):
    """Sign in with username and password; starts a session (cookie) and returns the user."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    # Password guessing is limited where the password is checked (api.login_throttle), for this
    # form and every other one; the schema still says so.
    error_responses = {429: LOGIN_THROTTLED}

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # See the module docstring: login is CSRF-checked although the user is anonymous.
        SessionAuthentication().enforce_csrf(request)

    @extend_schema(
        request=CredentialsSerializer,
        # 403 is documented by hand: the view is public, but login is CSRF-checked (see above).
        responses={200: UserSerializer,
                   403: OpenApiResponse(ErrorSerializer, description="The CSRF token is missing or wrong.")},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = CredentialsSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        login(request._request, user)
        return Response(UserSerializer(user).data)


class LogoutView(APIView):
    """End the browser session. A script's token stays valid (regenerate it to revoke it)."""

    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The signed-in user."""

    @extend_schema(responses=UserSerializer, tags=["auth"])
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


class TokenView(APIView):
    """Exchange a username and password for the user's API token (``Authorization: Token …``)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    # The same password check as LoginView, so the same limits (and the same counters).
    error_responses = {429: LOGIN_THROTTLED}

    @extend_schema(request=CredentialsSerializer, responses=TokenSerializer, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = CredentialsSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token = auth_token_get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


class TokenRegenerateView(APIView):
    """Replace the signed-in user's API token with a new one and return it."""

    @extend_schema(request=None, responses=TokenSerializer, tags=["auth"])
    def post(self, request: Request) -> Response:
        token = auth_token_regenerate(user=request.user)
        return Response({"token": token.key})
