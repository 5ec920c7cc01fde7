"""A real HTTP receiver for webhooks, in the test process: a threaded ``http.server`` on 127.0.0.1.

Each path answers from its script (``receiver.script("/flaky", 500, "hang", 200)``): a status
code, or ``"hang"`` (answer only after ``hang_seconds``, past the sender's timeout); once the script
is used up, the path answers ``then`` (200 unless told). Every request is kept, headers and body.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """Records what is posted to it and answers as scripted."""

    def __init__(self, *, hang_seconds: float = 2.5) -> None:
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._scripts: dict[str, list] = {}
        self._then: dict[str, int] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers, then: int = 200) -> None:
        with self._lock:
            self._scripts[path] = list(answers)
            self._then[path] = then

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def _answer(self, path: str):
        with self._lock:
            script = self._scripts.get(path)
            if script:
                return script.pop(0)
            return self._then.get(path, 200)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver._requests.append(Received(self.path, headers, body, time.time()))
                answer = receiver._answer(self.path)
                if answer == "hang":
                    time.sleep(receiver.hang_seconds)
                    answer = 200
                payload = f"answered {answer}".encode()
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sender gave up waiting (a timeout test)

            def log_message(self, *args) -> None:
                pass

        return Handler


@contextmanager
def running_receiver(**kwargs) -> Iterator[Receiver]:
    receiver = Receiver(**kwargs)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
