"""Make sure a local administrator exists, so a fresh `make run` can be logged into at once."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

# 16 URL-safe characters, ~96 bits: nobody guesses it, and it survives copy and paste.
PASSWORD_BYTES = 12


def local_admin_ensure(*, username: str) -> str | None:
    """Create superuser ``username`` with a random password unless a superuser exists.

    Returns the new password, or None when a superuser already existed (nothing was changed).
    Never a fixed password: a `make run` on a reachable machine must not open a known door.
    """
    user_model = get_user_model()
    if user_model.objects.filter(is_superuser=True).exists():
        return None
    if user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).exists():
        raise CommandError(
            f"There is no superuser, and a user named {username!r} exists but is not one. Create a "
            "superuser with `manage.py createsuperuser`, or pick another name with --username."
        )
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    user_model.objects.create_superuser(**{user_model.USERNAME_FIELD: username}, email="", password=password)
    return password


class Command(BaseCommand):
    help = (
        "Create a superuser with a random password if there is none, and print how to log in "
        "(the password is shown this once). Does nothing when a superuser exists."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin", help="Name of the user to create (default: %(default)s).")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/",
            help="Where the site runs, for the login hint (default: %(default)s).",
        )

    def handle(self, *args, username: str, url: str, **options) -> None:
        password = local_admin_ensure(username=username)
        base = url.rstrip("/")
        if password is None:
            self.stdout.write(
                f"A superuser exists; log in at {base}/ or {base}/admin/ "
                "(forgotten password: `manage.py changepassword <name>`)."
            )
            return
        rule = "=" * 72
        self.stdout.write(
            f"{rule}\n"
            f"Created the administrator {username!r} with the password:\n\n"
            f"    {password}\n\n"
            f"Log in at {base}/ (the app) or {base}/admin/ (Django admin).\n"
            "This password is shown only this once. Change it with:\n"
            f"    .venv/bin/python manage.py changepassword {username}\n"
            f"{rule}"
        )
