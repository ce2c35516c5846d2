from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError


class ImportRejected(DomainError):
    """An import file had problems; nothing was written. ``problems`` lists every one."""

    status = 400
    code = "import_rejected"
    default_message = _("The file was rejected; nothing was imported.")

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__()
        self.problems = problems

    def __str__(self) -> str:
        return f"{self.code}: {len(self.problems)} problem(s)"
