"""The ``tongban`` console script: Django's manage.py with tongban's own commands
(``init``, ``serve``, ``worker`` and, as issues add them, ``cluster``, ``catalog``, ``bench``)."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.settings.dev")
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv if argv is not None else sys.argv)


if __name__ == "__main__":
    main()
