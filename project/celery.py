"""The Celery application: reads every `CELERY_`-prefixed Django setting."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Each worker's main process writes a heartbeat to Redis, which /healthz reads (project/health.py).
@signals.worker_ready.connect(weak=False)
def _start_heartbeat(sender, **kwargs):
    from project.worker_heartbeat import on_worker_ready

    on_worker_ready(sender, **kwargs)


@signals.worker_shutdown.connect(weak=False)
def _stop_heartbeat(sender, **kwargs):
    from project.worker_heartbeat import on_worker_shutdown

    on_worker_shutdown(**kwargs)
