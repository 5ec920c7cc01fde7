"""The product catalogue over HTTP: list, filter, create, edit, toggle, delete, delete all."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.csv_download import CSVRenderer, csv_attachment
from api.filters import ProductFilter, StrictBooleanField
from api.pagination import ProductPagination
from api.serializers import (
    BulkDeleteResultSerializer,
    BulkDeleteSerializer,
    ErrorSerializer,
    ProductSerializer,
)
from catalog import selectors, services
from catalog.export import EXPORT_COLUMNS, products_export_csv
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

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "excel_safe",
                OpenApiTypes.BOOL,
                required=False,
                description="true: cells a spreadsheet would run as a formula start with an apostrophe "
                "(such a file no longer imports back exactly).",
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            404: OpenApiResponse(ErrorSerializer, description="`format` names a format other than csv or json."),
        },
        description=(
            "The products the list's filters select (sku, search, is_active, ordering), every one "
            f"of them, streamed as CSV with the columns {','.join(EXPORT_COLUMNS)}. It imports back "
            "as it is."
        ),
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        url_name="export",
        renderer_classes=[renderers.JSONRenderer, CSVRenderer],
        pagination_class=None,
    )
    def export(self, request: Request):
        try:
            excel_safe = bool(
                StrictBooleanField(required=False).clean(request.query_params.get("excel_safe"))
            )
        except forms.ValidationError as exc:
            raise serializers.ValidationError({"excel_safe": exc.messages}) from None
        products = self.filter_queryset(self.get_queryset())
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_attachment(
            request, products_export_csv(products, excel_safe=excel_safe), filename=f"products-{stamp}.csv"
        )
