"""What the default storage holds, listed through Django's storage API, on either backend.

Tests assert on it instead of walking MEDIA_ROOT, so the same test checks a local folder and a
bucket (each test has a storage of its own: a fresh folder, or a fresh key prefix).
"""

from __future__ import annotations

from django.core.files.storage import default_storage


def stored_names(prefix: str = "") -> list[str]:
    """Every stored file's name under ``prefix`` (all of them by default), sorted."""
    try:
        folders, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return []
    join = (lambda name: f"{prefix}/{name}") if prefix else (lambda name: name)
    names = [join(name) for name in files]
    for folder in folders:
        names += stored_names(join(folder))
    return sorted(names)


def storage_is_local() -> bool:
    return hasattr(default_storage, "path") and not hasattr(default_storage, "concatenate")
