"""Routes of the single-page front end."""

urlpatterns: list = []
