"""A loopback TCP proxy that records HTTP request lines and can cut a chosen upload mid-body.

Once told to (`cut_uploads_of`), every request `PUT <path containing the marker>` gets its headers
and `after` body bytes through, then both connections are closed: the server sees a truncated upload,
the client a dropped connection (a real network fault, retried by the client and failing each time).
Any protocol (PostgreSQL too): `cut_streams_over(n)` cuts each connection once it has sent more than
`n` bytes upstream (a bulk load, not a query), `drop_open()` cuts the open connections but keeps
accepting (a network blip: clients reconnect), `sever()` closes it all, the server gone away, and
`cut()` does the same until `restore()` (an outage that ends: the same address works again).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading

_REQUEST_LINE = re.compile(rb"(GET|PUT|POST|DELETE|HEAD) (\S+) HTTP/1\.1\r\n")


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to `upstream`; `requests` lists (method, path) in the order sent."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.cut_marker: bytes | None = None
        self.after = 0
        self.stream_limit: int | None = None
        self._sockets: list[socket.socket] = []
        self._severed = False
        self.requests: list[tuple[str, str]] = []
        self.cuts = 0
        self.refusing = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_uploads_of(self, path_part: str, after: int = 100) -> None:
        """From now on, cut each PUT whose path contains `path_part` after `after` body bytes."""
        self.cut_marker, self.after = path_part.encode(), after

    def cut_streams_over(self, limit: int) -> None:
        """From now on, cut every connection that has sent more than `limit` bytes upstream."""
        self.stream_limit = limit

    def drop_open(self) -> None:
        """Cut every open connection now; new ones are accepted as before."""
        self._drop_all()
        self.cuts += 1

    def sever(self) -> None:
        """Refuse new connections and drop every open one (the server went away)."""
        self._severed = True
        self._listener.close()
        self._drop_all()

    def cut(self) -> None:
        """Drop every open connection and close each new one at once, until `restore()`."""
        self.refusing = True
        self._drop_all()

    def restore(self) -> None:
        """End the outage: new connections are forwarded again."""
        self.refusing = False

    def _drop_all(self) -> None:
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            if self._severed:  # accepted while `sever()` ran: no connection survives it
                client.close()
                server.close()
                return
            threading.Thread(target=self._pump_up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(server, client), daemon=True).start()

    def _pump_down(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while data := server.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()

    def _pump_up(self, client: socket.socket, server: socket.socket) -> None:
        seen: bytearray | None = None  # bytes of the request being cut, from its request line on
        sent = 0
        try:
            while data := client.recv(65536):
                sent += len(data)
                if self.stream_limit is not None and sent > self.stream_limit:
                    self.cuts += 1
                    return
                for match in _REQUEST_LINE.finditer(data):
                    self.requests.append((match[1].decode(), match[2].decode()))
                    if (
                        seen is None
                        and match[1] == b"PUT"
                        and self.cut_marker
                        and self.cut_marker in match[2]
                    ):
                        server.sendall(data[: match.start()])
                        data, seen = data[match.start() :], bytearray()
                if seen is not None:
                    seen += data
                    end = seen.find(b"\r\n\r\n")
                    if end >= 0 and len(seen) >= end + 4 + self.after:
                        server.sendall(data[: len(data) - (len(seen) - (end + 4 + self.after))])
                        self.cuts += 1
                        return
                server.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
