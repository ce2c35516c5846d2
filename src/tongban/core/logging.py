"""Structured logs: one JSON object per line in production, readable lines in development.

Log *events* by name (``log.info("person.registered", person_id=...)``) and never pass
personal data (names, ID numbers, phone numbers) as values; log ids instead.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog


def configure(*, fmt: str, level: str) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structured": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        renderer,
                    ],
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "structured"}},
            "root": {"handlers": ["default"], "level": level},
            "loggers": {
                # Django logs every 4xx as a warning with the path; our middleware logs requests.
                "django.request": {"level": "ERROR"},
                "django.server": {"level": "ERROR"},
            },
        }
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
