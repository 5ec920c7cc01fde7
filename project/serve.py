"""The web process: several daphne processes sharing one listening socket.

One daphne process runs Python on one core at a time (the GIL), so under concurrent requests a
single process queues them. This launcher binds the socket once and starts ``WEB_CONCURRENCY``
daphne processes on it with ``--fd`` (the arrangement Channels documents for supervisor's
``fcgi-program``); the kernel hands each new connection to whichever process accepts first.

A daphne process that dies is started again after a short pause, so one crash does not take the
site down; SIGTERM or SIGINT stops them all. Run as ``python -m project.serve`` (the Procfile does).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

RESTART_DELAY_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 10.0


def web_concurrency() -> int:
    """``WEB_CONCURRENCY``, else one process per CPU core."""
    value = os.environ.get("WEB_CONCURRENCY", "").strip()
    if value:
        return max(1, int(value))
    return max(1, os.cpu_count() or 1)


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Keeps ``count`` daphne processes running on ``sock`` until asked to stop."""

    def __init__(self, sock: socket.socket, count: int, extra_args: list[str]) -> None:
        self.sock = sock
        self.count = count
        self.extra_args = extra_args
        self.children: list[subprocess.Popen] = []
        self.stopping = False

    def spawn(self) -> subprocess.Popen:
        fd = self.sock.fileno()
        args = [sys.executable, "-m", "daphne", "--fd", str(fd), *self.extra_args, "project.asgi:application"]
        return subprocess.Popen(args, pass_fds=(fd,))

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.children = [self.spawn() for _ in range(self.count)]
        print(f"Serving on {self.sock.getsockname()[:2]} with {self.count} daphne process(es): "
              f"{', '.join(str(child.pid) for child in self.children)}", flush=True)
        while not self.stopping:
            time.sleep(0.2)
            for index, child in enumerate(self.children):
                if child.poll() is not None and not self.stopping:
                    print(f"daphne {child.pid} exited with {child.returncode}; starting another.",
                          file=sys.stderr, flush=True)
                    time.sleep(RESTART_DELAY_SECONDS)
                    self.children[index] = self.spawn()
        return self.shutdown()

    def shutdown(self) -> int:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return 0


def main(argv: list[str] | None = None) -> int:
    host = os.environ.get("WEB_BIND", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    sock = listen(host, port)
    return Supervisor(sock, web_concurrency(), list(argv if argv is not None else sys.argv[1:])).run()


if __name__ == "__main__":
    sys.exit(main())
