"""The WSGI entry point: `tragen_runtime.wsgi:application`.

The runtime is built lazily in the worker on first use (gunicorn_conf's post_worker_init
calls `application.runtime()`), so importing this module starts nothing.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from tragen_runtime.runtime import Runtime

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]


class Application:
    def __init__(self, factory: Callable[[], Runtime] = Runtime.from_environment) -> None:
        self._factory = factory
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def runtime(self) -> Runtime:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    runtime = self._factory()
                    runtime.start()
                    self._runtime = runtime
        return self._runtime

    @property
    def started(self) -> Runtime | None:
        return self._runtime

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        from tragen_runtime import metrics

        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labelled children are cached: .labels() is slow per request
            children = (metrics.HTTP_REQUESTS.labels(method, route, str(status)),
                        metrics.HTTP_LATENCY.labels(route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def __call__(self, environ: dict[str, Any],
                 start_response: StartResponse) -> Iterable[bytes]:
        from tragen_runtime import api, metrics

        rt = self.runtime()
        started = time.perf_counter()
        rt.lifecycle.begin()
        metrics.IN_FLIGHT.inc()
        route = "error"
        status = 500
        try:
            req = _request(environ)
            resp, route = api.dispatch(rt, req)
        except api.HttpError as exc:
            resp = api.json_response(exc.status, {"error": str(exc)})
        except Exception:
            log.exception("request failed")
            resp = api.json_response(500, {"error": "internal error; see the worker log"})
        finally:
            metrics.IN_FLIGHT.dec()
        status = resp.status
        rt.lifecycle.end()
        self._observe(environ.get("REQUEST_METHOD", ""), route, status,
                      time.perf_counter() - started)
        body = resp.body
        headers = [("Content-Type", resp.content_type), *resp.headers]
        minimum = rt.settings.gzip_min_size
        if minimum is not None and len(body) >= minimum:
            headers.append(("Vary", "Accept-Encoding"))
            if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
                body = gzip.compress(body, compresslevel=5)
                headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [body]


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _request(environ: dict[str, Any]) -> Any:
    from tragen_runtime import api

    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > api.MAX_BODY:
        raise api.HttpError(413, f"body larger than {api.MAX_BODY} bytes")
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
               if k.startswith("HTTP_")}
    return api.Request(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/"),
                       parse_qs(query) if (query := environ.get("QUERY_STRING")) else {},
                       headers, body)


application = Application()
