"""Signals the importer sends once a change has committed.

- ``import_finished(job)``: a job has completed or failed (``job.status`` says which; its counts
  are on the job). Sent from ``transaction.on_commit``; a cancelled job does not send it.
"""

from django.dispatch import Signal

import_finished = Signal()
