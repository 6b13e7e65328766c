"""A TCP proxy on loopback in front of PostgreSQL that a test can cut and restore.

Cutting it closes every open connection at once and refuses new ones, as a database
server that crashed or a network that dropped would; restoring it listens again on
the same port, as the server coming back. Hanging it accepts new connections and
never answers on them, as a server stuck or a firewall dropping packets would.
"""

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

from sqlalchemy.engine import make_url

CHUNK = 65536


class DatabaseProxy:
    """Forwards 127.0.0.1:<port> to a PostgreSQL server until cut."""

    def __init__(self, target_url: str) -> None:
        url = make_url(target_url)
        self._target = (url.host or "127.0.0.1", url.port or 5432)
        self._target_url = url
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._hanging = False
        self.port = 0

    @property
    def url(self) -> str:
        """The target URL with the proxy as its host and port."""
        return self._target_url.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )

    def start(self) -> Self:
        """Listen (again, on the same port once it has one) and forward."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Drop every connection and refuse new ones until `restore`."""
        self._hanging = False
        with self._lock:
            listener, self._listener = self._listener, None
            doomed = list(self._sockets)
            self._sockets.clear()
        if listener is not None:
            listener.close()
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        """Accept connections again."""
        self.start()

    def hang(self) -> None:
        """Accept new connections but pass nothing on them, until `cut`."""
        self._hanging = True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut: the listener was closed
            if self._hanging:
                with self._lock:
                    self._sockets.add(client)
                continue
            try:
                server = socket.create_connection(self._target)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(server)
                    return
                self._sockets.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pipe, args=(source, sink), daemon=True
                ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
