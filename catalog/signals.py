"""Signals the catalogue's services send once a change has committed.

Other apps (``webhooks``) listen to them; the catalogue does not know who does. Each is sent
from ``transaction.on_commit``, so a listener never hears of a change that was rolled back.

- ``product_created(product)``, ``product_updated(product)``: one per product changed through
  the services (the API and the UI; not the Django admin, which saves models directly); an
  import's rows do not send them.
- ``product_deleted(product_id, sku)``.
- ``catalogue_cleared(deleted)``: every product was deleted at once; ``deleted`` is how many.
"""

from django.dispatch import Signal

product_created = Signal()
product_updated = Signal()
product_deleted = Signal()
catalogue_cleared = Signal()
