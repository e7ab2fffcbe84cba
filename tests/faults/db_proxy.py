"""A TCP proxy between the bot and its database that can pass, refuse, stall or cut connections on demand,
so tests see what a person sees when the database misbehaves in each of those ways."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

PASS, REFUSE, STALL = "pass", "refuse", "stall"


class DbProxy:
    """`pass`: bytes flow both ways. `refuse`: the port is closed and live connections are dropped, as
    when the server is down. `stall`: connections are accepted and nothing is answered, on new and live
    ones alike, as when the server hangs or a middlebox swallows the traffic. `cut()` drops every live
    connection at once (a failover, a restart) and keeps the mode."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = PASS
        self.port = 0
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._accepting: threading.Thread | None = None

    @classmethod
    def for_url(cls, database_url: str) -> DbProxy:
        parts = urlsplit(database_url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url(self, database_url: str) -> str:
        """`database_url` with its host and port pointing at the proxy."""
        parts = urlsplit(database_url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    # -- switching -----------------------------------------------------------------------------------
    def start(self) -> DbProxy:
        self._listen()
        return self

    def passing(self) -> None:
        with self._lock:
            self.mode = PASS
        self._listen()

    def stalling(self) -> None:
        with self._lock:
            self.mode = STALL
        self._listen()

    def refusing(self) -> None:
        with self._lock:
            self.mode = REFUSE
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.cut()

    def cut(self) -> None:
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            with contextlib.suppress(OSError):
                # A reset, not a polite close: what the client sees when the server or the network dies.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self) -> None:
        self._stopped.set()
        self.refusing()

    # -- the plumbing ---------------------------------------------------------------------------------
    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))  # the same port again after `refuse`
            listener.listen(64)
            listener.settimeout(0.1)
            self.port = listener.getsockname()[1]
            self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.add(sock)

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            while self.mode == STALL:  # accepted, never answered
                if self._stopped.wait(0.05) or client not in self._live:
                    return
            upstream = socket.create_connection(self.upstream, timeout=5)
            self._track(upstream)
            self._pump(client, upstream)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ)
            sel.register(b, selectors.EVENT_READ)
            while not self._stopped.is_set():
                if a not in self._live or b not in self._live:
                    return  # cut
                if self.mode == STALL:
                    # Read nothing, forward nothing: the kernel still acknowledges what the client sends.
                    self._stopped.wait(0.05)
                    continue
                for key, _ in sel.select(timeout=0.05):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    peer[key.fileobj].sendall(data)
