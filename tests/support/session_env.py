"""Process-wide test environment, loaded as an early pytest plugin (``-p`` in pyproject.toml).

It must run before pytest-django reads the Django settings, which happens before any
conftest.py is imported; ``-p`` plugins are imported earlier than that.
"""

import os
import uuid

# Each test session gets its own Celery queue on the shared Redis, so a developer's running
# worker never takes a test's task and two test runs never take each other's.
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"product-import-test-{uuid.uuid4().hex[:8]}"
# The test process needs no connection pool (pytest-django switches databases under it);
# the daphne processes the end-to-end tests start turn it back on.
os.environ.setdefault("DATABASE_POOL", "false")
# Rate limits (api/throttling.py): the suite signs in and uploads far more often than a person,
# so its limits are generous; tests/security/test_throttling.py sets tight ones itself. Its own
# cache prefix keeps its counters apart from a dev server's and other test runs' (daphne and
# workers started by the tests inherit both).
os.environ.setdefault("THROTTLE_LOGIN_RATE", "100000/min")
os.environ.setdefault("THROTTLE_LOGIN_USERNAME_RATE", "100000/min")
os.environ.setdefault("THROTTLE_UPLOAD_RATE", "100000/min")
os.environ.setdefault("CACHE_KEY_PREFIX", f"product-import-test-{uuid.uuid4().hex[:8]}")
# DEBUG is off unless asked for (project/settings.py). The suite runs with development settings
# (plain HTTP, no manifest static storage) and a random key of its own; processes the tests start
# inherit both. tests/security/test_deploy_settings.py checks the production defaults itself.
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_SECRET_KEY", f"test-session-only-{uuid.uuid4().hex}")
