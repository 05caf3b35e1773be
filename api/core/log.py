"""Logging of the running service: one line per record, the request id, never a traceback.

`uvicorn_log_config` is handed to ``uvicorn.run(log_config=...)`` by ``nachtroute serve`` and
``nachtroute demo``. Its handlers pass every record through `NoTracebacks`, which drops the
exception text and traceback (a driver's exception quotes SQL parameters: names, addresses,
hashes) and keeps the exception's class, so uvicorn's own "Exception in ASGI application"
printing carries no personal data either. Each line carries the request id (``-`` outside a
request), the one the client got in ``X-Request-ID``.
"""

from __future__ import annotations

import logging
from typing import Any

from api.core.middleware import request_id_var

__all__ = ["NoTracebacks", "uvicorn_log_config"]


class NoTracebacks(logging.Filter):
    """Adds ``request_id``; replaces an attached exception by its class name."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        if record.exc_info:
            error = record.exc_info[1]
            name = type(error).__name__ if error is not None else "exception"
            record.msg = f"{record.getMessage()} [{name}]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        record.stack_info = None
        return True


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and the service's own loggers."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "filters": ["no_tracebacks"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"no_tracebacks": {"()": NoTracebacks}},
        "formatters": {
            "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
        },
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {
                "handlers": ["default"],
                "level": level.upper(),
                "propagate": False,
            },
            "nachtroute": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "sqlalchemy": {"handlers": ["default"], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }
