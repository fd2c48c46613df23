"""``python -m mlops_workloads.serving [--host H] [--port P]``: one uvicorn worker serving the app."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import uvicorn

from mlops_workloads.serving.app import create_app
from mlops_workloads.serving.settings import ServingSettings


class JsonFormatter(logging.Formatter):
    """One JSON object per line; access-log messages are already JSON and are passed through unchanged."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith("{"):
            return message
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_workloads.serving", description=__doc__)
    parser.add_argument("--host", help="bind address (env SERVING_HOST, default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (env SERVING_PORT, default 8080)")
    parser.add_argument("--log-level", default=os.environ.get("SERVING_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    # Fail fast on an unreachable tracking server: the service's own backoff decides when to retry.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = ServingSettings.from_env(**overrides)
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging(args.log_level.upper())
    # Hand the GIL back and forth between the event loop and the inference thread every 0.5 ms instead of 5 ms:
    # each request crosses threads twice, and the default interval shows up directly in the tail latency.
    sys.setswitchinterval(0.0005)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=1,
        access_log=False,  # the service writes its own structured access log
        log_config=None,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
