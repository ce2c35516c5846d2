"""The antivirus hook: a deployment names a scanner class in ``TONGBAN_ANTIVIRUS`` (for
example one that talks to clamd); the default records that no scanner ran."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class ScanResult:
    status: str  # "clean", "infected" or "not_scanned"
    detail: str = ""


class Scanner(Protocol):
    def scan(self, path: Path) -> ScanResult: ...


class NoScanner:
    """Accepts every file and says so: the material shows "not scanned"."""

    def scan(self, path: Path) -> ScanResult:
        return ScanResult("not_scanned")


def scanner() -> Scanner:
    path = getattr(settings, "TONGBAN_ANTIVIRUS", "tongban.cases.scanning.NoScanner")
    return import_string(path)()
