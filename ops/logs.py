"""Structured logs: one JSON object per line on stderr (or plain text for a terminal), for every job."""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["configure_logging"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", json_lines: bool | None = None) -> None:
    """Send logs to stderr: JSON lines when not attached to a terminal (containers), plain text otherwise."""
    handler = logging.StreamHandler(sys.stderr)
    as_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    handler.setFormatter(
        _JsonFormatter() if as_json else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in ("httpx", "httpx2", "aiohttp.access", "websockets"):  # one line per request/frame is noise
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
