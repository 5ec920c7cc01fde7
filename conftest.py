"""Process-wide test settings, applied before Django reads its settings."""

import os
import uuid

# Each test session gets its own Celery queue on the shared Redis, so a developer's running
# worker never takes a test's task and two test runs never take each other's.
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"product-import-test-{uuid.uuid4().hex[:8]}"
# The test process is one thread at a time: no connection pool, so pytest-django's test
# database switch cannot meet a pool opened on the development database.
os.environ.setdefault("DATABASE_POOL", "false")
