"""The product catalogue over HTTP: list, filter, create, edit, toggle, delete, delete all."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import ProductFilter
from api.pagination import ProductPagination
from api.serializers import (
    BulkDeleteResultSerializer,
    BulkDeleteSerializer,
    ErrorSerializer,
    ProductSerializer,
)
from catalog import selectors, services
from importer.bulk_delete import products_bulk_delete

DUPLICATE_SKU_400 = OpenApiResponse(
    ErrorSerializer, description="Invalid input, e.g. the SKU exists in another letter case."
)


@extend_schema_view(
    create=extend_schema(responses={201: ProductSerializer, 400: DUPLICATE_SKU_400}),
    update=extend_schema(responses={200: ProductSerializer, 400: DUPLICATE_SKU_400}),
    partial_update=extend_schema(
        description='Change some fields; `{"is_active": false}` deactivates a product.',
        responses={200: ProductSerializer, 400: DUPLICATE_SKU_400},
    ),
)
class ProductViewSet(viewsets.ModelViewSet):
    """Products of the catalogue; SKUs are unique in any letter case."""

    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    pagination_class = ProductPagination

    def get_queryset(self):
        return selectors.product_list()

    def perform_create(self, serializer: ProductSerializer) -> None:
        serializer.instance = services.product_create(**serializer.validated_data)

    def perform_update(self, serializer: ProductSerializer) -> None:
        serializer.instance = services.product_update(
            product=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance) -> None:
        services.product_delete(product=instance)

    @extend_schema(
        request=BulkDeleteSerializer,
        responses={
            200: BulkDeleteResultSerializer,
            400: OpenApiResponse(ErrorSerializer, description='The request lacks {"confirm": true}.'),
            403: OpenApiResponse(ErrorSerializer, description="Only staff may delete every product."),
            409: OpenApiResponse(ErrorSerializer, description="An import is pending or running."),
        },
        description=(
            'Delete every product. Needs `{"confirm": true}` and a staff user; refused with 409 '
            "while an import is pending or processing."
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk-delete",
        url_name="bulk-delete",
        permission_classes=[permissions.IsAdminUser],
        # No filtering or paging applies to this action (and none should appear in its schema).
        filterset_class=None,
        pagination_class=None,
    )
    def bulk_delete(self, request: Request) -> Response:
        BulkDeleteSerializer(data=request.data).is_valid(raise_exception=True)
        deleted = products_bulk_delete()
        return Response({"deleted": deleted}, status=status.HTTP_200_OK)
