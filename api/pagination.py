"""Page-number pagination for every list: ``{count, next, previous, results}``."""

from __future__ import annotations

from django.core.paginator import EmptyPage, PageNotAnInteger
from django.core.paginator import Paginator as DjangoPaginator
from django.utils.functional import cached_property
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from catalog import selectors

# A page_size with more digits than this is refused before int() (which refuses 4,300 digits
# with a ValueError); a page that starts past MAX_ROW_OFFSET is past the end of any catalogue
# (asked of PostgreSQL, its offset overflowed bigint: a 500).
MAX_NUMBER_DIGITS = 18
MAX_ROW_OFFSET = 2**62


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` and ``?page_size=M`` (at most 1000); 50 per page unless asked otherwise.

    The count is an exact ``COUNT(*)`` of the filtered query, without ordering or joins, so
    PostgreSQL answers it from an index-only or sequential scan of one table.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request) -> int:
        """``page_size`` if given: a whole number of at least 1, capped at ``max_page_size``.

        DRF quietly uses the default for a ``page_size`` it cannot read; a client that sent
        ``page_size=1O0`` would then page wrongly without knowing why, so it is a 400 here.
        """
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        raw = raw.strip()
        # ASCII digits, few enough for int() (which refuses 4,300 digits with a ValueError).
        if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_NUMBER_DIGITS or int(raw) < 1:
            message = f"Must be a whole number, 1 or more (a page holds at most {self.max_page_size})."
            raise ValidationError({self.page_size_query_param: [message]})
        return min(int(raw), self.max_page_size)


class ProductPaginator(DjangoPaginator):
    """A paginator whose count and pages come from the catalogue's selectors.

    With a million products, ``COUNT(*)`` and ``OFFSET`` are what make a list slow: the
    selectors answer the whole catalogue and the active filter from trigger-maintained count
    blocks (also used to seek deep pages), and cap the exact count of text filters.
    """

    @cached_property
    def product_count(self) -> selectors.ProductCount:
        return selectors.product_count(products=self.object_list)

    @cached_property
    def count(self) -> int:
        return self.product_count.value

    def page(self, number):
        """The page's rows first: when the list ends on this page, its length is the count.

        A text filter that matches a handful of products makes PostgreSQL read the whole table
        once for the page and once more to count; read first, a page that is not full already
        says how many there are, and the count is skipped. A full page is counted as usual.
        """
        number = self._page_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(selectors.product_page(products=self.object_list, start=bottom, stop=bottom + self.per_page))
        if rows and len(rows) < self.per_page or not rows and number == 1:
            self.__dict__["product_count"] = selectors.ProductCount(bottom + len(rows))
        else:
            # Beyond the last page: EmptyPage (answered 404), as for any other paginator.
            number = self.validate_number(number)
            if self.product_count.exact:
                rows = rows[: max(0, self.count - bottom)]
        return self._get_page(rows, number, self)

    def _page_number(self, number) -> int:
        """``number`` as a page number, without the count ``validate_number`` needs for its range."""
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        if number * self.per_page > MAX_ROW_OFFSET:
            # Certainly past the end; asked of PostgreSQL, the offset would overflow its bigint.
            raise EmptyPage(self.error_messages["no_results"])
        return number


class ProductPagination(PageNumberPagination):
    """Product pages: ``count`` is exact unless ``count_exact`` is false.

    A SKU or text filter matching more than ``selectors.EXACT_COUNT_LIMIT`` products reports
    PostgreSQL's estimate (``count_exact: false``; show it as "about N"): counting hundreds of
    thousands of substring matches exactly takes seconds.
    """

    django_paginator_class = ProductPaginator

    def get_paginated_response(self, data) -> Response:
        paginator = self.page.paginator
        return Response({
            "count": paginator.count,
            "count_exact": paginator.product_count.exact,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": data,
        })

    def get_paginated_response_schema(self, schema: dict) -> dict:
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count_exact"] = {
            "type": "boolean",
            "description": "False when count is an estimate (a text filter with very many matches).",
            "example": True,
        }
        response["required"] = [*response.get("required", []), "count_exact"]
        return response
