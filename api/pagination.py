"""Page-number pagination for every list: ``{count, next, previous, results}``."""

from __future__ import annotations

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N`` and ``?page_size=M`` (at most 1000); 50 per page unless asked otherwise.

    The count is an exact ``COUNT(*)`` of the filtered query, without ordering or joins, so
    PostgreSQL answers it from an index-only or sequential scan of one table.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
