"""Query-string filters of the product list (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet

from catalog import selectors
from catalog.models import Product
from catalog.search import SEARCH_MAX_LENGTH

ORDERING_FIELDS = selectors.PRODUCT_ORDERING_FIELDS


class StrictBooleanField(forms.NullBooleanField):
    """``true``/``false`` (or ``1``/``0``), or absent; anything else is invalid.

    django-filter's ``BooleanFilter`` reads the value through a select widget that turns an
    unknown value into "no filter", so ``is_active=ture`` listed every product with a 200.
    """

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class ProductOrderingFilter(django_filters.OrderingFilter):
    """``ordering=<field>`` or ``-<field>``; ties are broken by id so pages never overlap."""

    def filter(self, qs: QuerySet, value: list[str] | None) -> QuerySet:
        ordering = [self.get_ordering_value(param) for param in value or []]
        return selectors.products_ordered(qs, ordering=ordering)


class ProductFilter(django_filters.FilterSet):
    """Narrow and order the product list; every text match ignores letter case."""

    sku = django_filters.CharFilter(method="filter_sku", help_text="Part of the SKU, in any letter case.")
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=SEARCH_MAX_LENGTH,
        help_text=(
            "Words, each found in the name, SKU or description, in any case and with or without "
            'accents; the last one may be the start of a word. "Quoted words" must follow each '
            "other, -word must be absent. Without an ordering, name and SKU matches come first."
        ),
    )
    is_active = StrictBooleanFilter(help_text="true or false.")
    ordering = ProductOrderingFilter(
        fields=ORDERING_FIELDS,
        help_text="Sort by " + ", ".join(ORDERING_FIELDS) + "; prefix with - for descending.",
    )

    class Meta:
        model = Product
        fields = ["sku", "search", "is_active"]

    def filter_sku(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.products_with_sku_fragment(queryset, fragment=value)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.products_matching_text(queryset, text=value)
