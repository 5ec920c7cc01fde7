"""Page-number pagination for every list: ``{count, next, previous, results}``."""

from __future__ import annotations

from django.core.paginator import EmptyPage, Page, PageNotAnInteger
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


class ProductPage(Page):
    """A page that knows from its own rows whether another page follows.

    The paginator reads one row more than the page holds, so ``has_next`` and
    ``next_page_number`` need no count: they stay right when the count is only an estimate,
    which may fall short of the real end (or overshoot it).
    """

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        if self.paginator.product_count.exact:
            return super().has_next()
        return self.more

    def next_page_number(self) -> int:
        if self.paginator.product_count.exact:
            return super().next_page_number()
        if not self.more:
            raise EmptyPage(self.paginator.error_messages["no_results"])
        return self.number + 1


class ProductPaginator(DjangoPaginator):
    """A paginator whose count and pages come from the catalogue's selectors.

    With a million products, ``COUNT(*)`` and ``OFFSET`` are what make a list slow: the
    selectors answer the whole catalogue and the active filter from trigger-maintained count
    blocks (also used to seek deep pages), and cap the exact count of text filters.

    When the count is only an estimate it says nothing about where the list ends: a page is
    refused (404) only when it has no rows, and whether a next page exists is read from the rows
    (one more than the page holds), never from the estimate.
    """

    @cached_property
    def product_count(self) -> selectors.ProductCount:
        return selectors.product_count(products=self.object_list)

    @cached_property
    def count(self) -> int:
        return self.product_count.value

    def page(self, number):
        """The page's rows first, and one more: when the list ends on this page, it says the count.

        A text filter that matches a handful of products makes PostgreSQL read the whole table
        once for the page and once more to count; read first, a page that the list ends on
        already says how many there are, and the count is skipped. Otherwise the list is counted
        as usual: exactly, or (past ``EXACT_COUNT_LIMIT`` matches) estimated.
        """
        number = self._page_number(number)
        bottom = (number - 1) * self.per_page
        stop = bottom + self.per_page + 1
        rows = list(selectors.product_page(products=self.object_list, start=bottom, stop=stop))
        more = len(rows) > self.per_page
        rows = rows[: self.per_page]
        if not more and (rows or number == 1):
            self.__dict__["product_count"] = selectors.ProductCount(bottom + len(rows))
        elif not rows:
            # Past the last row: EmptyPage (answered 404), whatever a count or estimate says.
            raise EmptyPage(self.error_messages["no_results"])
        elif self.product_count.exact:
            # Counted after the page was read, so a concurrent delete can make it smaller.
            number = self.validate_number(number)
            rows = rows[: max(0, self.count - bottom)]
        elif self.product_count.value <= bottom + len(rows):
            # The estimate falls short of rows that exist: never report fewer than are known.
            self.__dict__["product_count"] = selectors.ProductCount(bottom + len(rows) + 1, exact=False)
        return ProductPage(rows, number, self, more=more)

    def last_page_number(self) -> int:
        """The number of the last page, counted exactly even where the count is only an estimate.

        Asked for by name (``page=last``) only; counting every match of a broad text filter
        takes seconds, which a client that wants the end of the list pays once.
        """
        if not self.product_count.exact:
            exact = selectors.product_count_exact(products=self.object_list)
            self.__dict__["product_count"] = selectors.ProductCount(exact)
            self.__dict__.pop("count", None)
            self.__dict__.pop("num_pages", None)
        return self.num_pages

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
    thousands of substring matches exactly takes seconds. The estimate bounds nothing: every
    page that has rows is answered, and ``next`` is set while rows follow, so following ``next``
    walks every match.
    """

    django_paginator_class = ProductPaginator

    def get_page_number(self, request, paginator: ProductPaginator):
        """``page=last`` is the list's real last page, even where the count is only an estimate."""
        page_number = request.query_params.get(self.page_query_param) or 1
        if page_number in self.last_page_strings:
            return paginator.last_page_number()
        return page_number

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
            "description": (
                "False when count is an estimate (a text filter with very many matches); the list "
                "may end before or after it: follow `next`, which is set while rows follow."
            ),
            "example": True,
        }
        response["required"] = [*response.get("required", []), "count_exact"]
        return response
