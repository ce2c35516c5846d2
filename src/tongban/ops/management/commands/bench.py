from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.catalog import selectors
from tongban.catalog.reference import DATA_DIR
from tongban.catalog.search import evaluate, load_eval_cases
from tongban.core.errors import DomainError

TARGETS = {"top3": 0.95, "zero_results": 0.02, "p99_ms": 5.0}


class Command(BaseCommand):
    help = "Measure parts of this node against their targets (`tongban bench search`)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="target", required=True)
        search = sub.add_parser("search", help="Hit rates and latency of catalogue search.")
        search.add_argument(
            "--cases", type=Path, default=DATA_DIR / "search_eval.csv", help="query,expected CSV"
        )
        search.add_argument("--repeat", type=int, default=20, help="Passes over the cases.")
        search.add_argument("--show-misses", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["target"] == "search":
            self._search(options)

    def _search(self, options: dict[str, Any]) -> None:
        try:
            version = selectors.version_current()
        except DomainError as error:
            raise CommandError(f"{error} (run `tongban init` first)") from None
        started = time.perf_counter()
        index = selectors.search_index(version=version)
        built_ms = (time.perf_counter() - started) * 1000
        cases = load_eval_cases(options["cases"])
        report = evaluate(index, cases, repeat=options["repeat"])
        rows = [
            ("catalogue version", f"v{version.number}", ""),
            ("cases", str(report.cases), ""),
            ("top-1 hit", f"{report.top1:.1%}", ""),
            ("top-3 hit", f"{report.top3:.1%}", _verdict(report.top3 >= TARGETS["top3"], "≥ 95%")),
            (
                "zero results",
                f"{report.zero_results:.1%}",
                _verdict(report.zero_results <= TARGETS["zero_results"], "≤ 2%"),
            ),
            ("p50 latency", f"{report.p50_ms:.2f} ms", ""),
            (
                "p99 latency",
                f"{report.p99_ms:.2f} ms",
                _verdict(report.p99_ms <= TARGETS["p99_ms"], "≤ 5 ms"),
            ),
            ("index build", f"{built_ms:.0f} ms", ""),
        ]
        for label, value, verdict in rows:
            self.stdout.write(f"{label:<18} {value:>10}  {verdict}")
        if options["show_misses"]:
            for query, names in report.misses:
                self.stdout.write(f"miss: {query} → {' | '.join(names) or '(nothing)'}")


def _verdict(ok: bool, target: str) -> str:
    return f"target {target}: {'met' if ok else 'MISSED'}"
