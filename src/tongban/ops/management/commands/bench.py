from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tongban.catalog import selectors
from tongban.catalog.reference import DATA_DIR
from tongban.catalog.search import evaluate, load_eval_cases
from tongban.core.errors import DomainError
from tongban.ops import bench_cases
from tongban.ops.management.commands.serve import default_threads

TARGETS = {"top3": 0.95, "zero_results": 0.02, "p99_ms": 5.0}


class Command(BaseCommand):
    help = (
        "Measure parts of this node against their targets: `tongban bench search`, "
        "`tongban bench cases`, `tongban bench exchange`, `tongban bench licenses`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="target", required=True)
        search = sub.add_parser("search", help="Hit rates and latency of catalogue search.")
        search.add_argument(
            "--cases", type=Path, default=DATA_DIR / "search_eval.csv", help="query,expected CSV"
        )
        search.add_argument("--repeat", type=int, default=20, help="Passes over the cases.")
        search.add_argument("--show-misses", action="store_true")

        cases = sub.add_parser(
            "cases",
            help="Durable case transitions (submit, accept) per second through the HTTP API, "
            "their latency, and the same writes as raw SQL, on this node's database.",
        )
        cases.add_argument(
            "--url",
            help="A running server of this node (same database) instead of starting one.",
        )
        cases.add_argument(
            "--concurrency", type=_positive, default=8, help="Clients at once (%(default)s)."
        )
        cases.add_argument(
            "--paced-concurrency",
            type=_positive,
            help="Clients available to the paced run (default: twice --concurrency).",
        )
        cases.add_argument(
            "--seconds",
            type=float,
            default=10.0,
            help="Length of each measured run (%(default)s s).",
        )
        cases.add_argument(
            "--cases", type=_positive, help="Cases per measured run instead of --seconds."
        )
        cases.add_argument(
            "--warmup",
            type=float,
            default=2.0,
            help="Unmeasured load before the HTTP runs (%(default)s s).",
        )
        cases.add_argument(
            "--workers",
            type=_positive,
            default=int(os.environ.get("TONGBAN_WEB_WORKERS", "2")),
            help="Web server processes, as `tongban serve` (%(default)s).",
        )
        cases.add_argument(
            "--threads",
            type=_positive,
            default=default_threads(),
            help="Threads per web server process, as `tongban serve` (%(default)s).",
        )
        cases.add_argument(
            "--items", type=_positive, help="File under at most this many service items."
        )
        cases.add_argument("--json", action="store_true", help="Print one JSON object.")

        exchange = sub.add_parser(
            "exchange",
            help="Events per second between two real nodes and their delivery latency "
            "(a throwaway local cluster: hub, sender, receiver).",
        )
        exchange.add_argument(
            "--events", type=_positive, default=2000, help="Probes in the burst (%(default)s)."
        )
        exchange.add_argument(
            "--steady", type=_positive, default=300, help="Probes at a steady rate (%(default)s)."
        )
        exchange.add_argument(
            "--rate", type=float, default=50.0, help="The steady rate, per second (%(default)s)."
        )
        exchange.add_argument(
            "--base-port", type=int, default=8700, help="The hub's port; then +1… (%(default)s)."
        )
        exchange.add_argument(
            "--postgres",
            nargs="?",
            const="postgresql://postgres@127.0.0.1:5432",
            help="A PostgreSQL database per node on this server (default: SQLite files).",
        )

        licenses = sub.add_parser(
            "licenses",
            help="Offline verifications of a licence credential per second on one core, and the "
            "size of a typical licence's QR text.",
        )
        licenses.add_argument("--seconds", type=float, default=3.0, help="(%(default)s)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["target"] == "licenses":
            self._licenses(options)
        elif options["target"] == "search":
            self._search(options)
        elif options["target"] == "exchange":
            self._exchange(options)
        elif options["target"] == "cases":
            self._cases(options)

    def _licenses(self, options: dict[str, Any]) -> None:
        from tongban.licenses import bench

        if not 0 < options["seconds"] <= 600:
            raise CommandError("--seconds must be more than 0 and at most 600.")
        figures = bench.run(seconds=options["seconds"])
        report = dict(figures.__dict__, met=figures.met)
        self.stdout.write(json.dumps(report, ensure_ascii=False))

    def _exchange(self, options: dict[str, Any]) -> None:
        import tempfile

        from django.conf import settings

        from tongban.ops import cluster, exchange_trial

        root = Path(tempfile.mkdtemp(prefix="bench-exchange-", dir=settings.TONGBAN_DATA_DIR))
        try:
            with exchange_trial.trial(
                root, base_port=options["base_port"], postgres=options["postgres"]
            ) as run:
                figures = exchange_trial.bench(
                    run, events=options["events"], steady=options["steady"], rate=options["rate"]
                )
        except (cluster.ClusterError, exchange_trial.TrialError) as error:
            raise CommandError(str(error)) from None
        report = dict(figures.__dict__)
        report["goals"] = {"per_second": 500, "latency_p50_ms": 100}
        report["met"] = figures.per_second >= 500 and figures.latency_p50_ms <= 100
        self.stdout.write(json.dumps(report, ensure_ascii=False))
        import shutil

        shutil.rmtree(root, ignore_errors=True)

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

    def _cases(self, options: dict[str, Any]) -> None:
        run_options = bench_cases.Options(
            url=options["url"],
            concurrency=options["concurrency"],
            paced_concurrency=options["paced_concurrency"],
            seconds=options["seconds"],
            cases=options["cases"],
            warmup=options["warmup"],
            workers=options["workers"],
            threads=options["threads"],
            items=options["items"],
        )
        quiet = options["json"] or options["verbosity"] == 0

        def progress(line: str) -> None:
            if not quiet:
                self.stderr.write(f"… {line}")
                self.stderr.flush()

        try:
            report = bench_cases.run(run_options, progress=progress)
        except bench_cases.BenchError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        else:
            for label, value, verdict in _case_rows(report):
                self.stdout.write(f"{label:<20} {value:>24}  {verdict}".rstrip())
        if report.problems:
            raise CommandError("; ".join(report.problems))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _case_rows(report: bench_cases.Report) -> list[tuple[str, str, str]]:
    data = report.as_json()
    http, paced, raw = data["http"], data["paced"], data["raw"]
    database = data["database"]
    server = data["server"]
    goal = bench_cases.GOAL_TRANSITIONS_PER_S
    rows = [
        ("database", f"{database['vendor']} {database['version']}", database["name"]),
        (
            "server",
            f"{server['workers']} × {server['threads']} threads"
            if server["started_here"]
            else "given",
            server["url"],
        ),
        ("service items", str(len(data["catalogue"]["items"])), data["catalogue"]["department"]),
        ("clients", str(data["concurrency"]), ""),
        (
            "busy before the run",
            "?"
            if data["machine_busy_before"] is None
            else f"{data['machine_busy_before']:.2f} cores",
            "other programs' load lowers every figure"
            if (data["machine_busy_before"] or 0) > 0.2
            else "",
        ),
        (
            "HTTP transitions",
            f"{http['transitions_per_s']:,.0f}/s",
            _verdict(http["transitions_per_s"] >= goal, f"≥ {goal:,.0f}/s"),
        ),
        ("submit p50 / p99", _ms_pair(http["submit"]), ""),
        ("accept p50 / p99", _ms_pair(http["accept"]), ""),
        ("HTTP errors", f"{http['errors']} of {http['requests']}", ""),
    ]
    if paced is not None:
        rows += [
            (
                "paced load",
                f"{paced['transitions_per_s']:,.0f}/s",
                f"asked {paced['asked_per_s']:,.0f}/s",
            ),
            (
                "paced p50 / p99",
                _ms_pair(paced["all"]),
                _verdict(
                    data["met"]["paced_p99_ms"], f"p99 ≤ {bench_cases.GOAL_PACED_P99_MS:g} ms"
                ),
            ),
            ("paced errors", f"{paced['errors']} of {paced['requests']}", ""),
        ]
    rows += [
        ("raw SQL transitions", f"{raw['transitions_per_s']:,.0f}/s", ""),
        ("raw submit p50/p99", _ms_pair(raw["submit"]), ""),
        ("raw accept p50/p99", _ms_pair(raw["accept"]), ""),
        ("HTTP / raw SQL", f"{data['ratio_http_to_raw']:.2f}", ""),
    ]
    for name, phase in (("HTTP", http), ("raw SQL", raw)):
        cpu = phase["cpu"]
        if cpu:
            rows.append(
                (
                    f"CPU during {name}",
                    f"{cpu['machine']:.2f} of {cpu['cores']:g} cores",
                    f"server {cpu['server']:.2f}, database {cpu['database']:.2f}, "
                    f"load generator {cpu['load_generator']:.2f}, "
                    f"interrupts {cpu['interrupts']:.2f}, other {cpu['other']:.2f}",
                )
            )
    rows.append(
        (
            "cleaned up",
            f"{data['cleanup']['cases']} cases",
            f"{data['cleanup']['events']} events, {data['cleanup']['other']} other rows",
        )
    )
    return rows


def _ms_pair(summary: dict[str, Any]) -> str:
    return f"{summary['p50_ms']:.1f} / {summary['p99_ms']:.1f} ms"


def _verdict(ok: bool, target: str) -> str:
    return f"target {target}: {'met' if ok else 'MISSED'}"
