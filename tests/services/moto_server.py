"""Run moto's S3 server with its object writes made atomic, as S3's are.

moto checks ``If-Match`` / ``If-None-Match`` and then stores the object in two steps, and its
server answers requests on many threads: two conditional PUTs holding the same ETag can both
pass the check before either stores, so the emulator (not S3) loses an update now and then.
This launcher is moto's own ``moto_server`` with one WSGI layer added: requests that change
state (PUT, POST, DELETE) run one at a time. Each body is read before the lock is taken, so a
slow upload never holds the others up; reads stay concurrent.

Usage: ``python -m tests.services.moto_server -H 127.0.0.1 -p PORT``.
"""

from __future__ import annotations

import argparse
import io
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple
from werkzeug.wsgi import get_input_stream

_MUTATING = frozenset({"PUT", "POST", "DELETE"})


class SerialWrites:
    """WSGI middleware: state-changing requests are applied one at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in _MUTATING:
            return self.app(environ, start_response)
        body = get_input_stream(environ).read()  # bounded by Content-Length or the chunked framing
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        with self.lock:
            # the response is materialised inside the lock: the write happens while it is built
            return list(self.app(environ, start_response))


def main() -> None:
    """Parse ``-H``/``-p`` and serve moto's S3 (and IAM) backends until terminated."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerialWrites(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
