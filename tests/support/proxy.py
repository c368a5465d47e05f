"""A TCP proxy for tests that can be cut and restored (a phone losing its signal), and slowed down."""

from __future__ import annotations

import socket
import threading
import time

from tests.support.services import free_port


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to a target port; ``stop`` drops every connection and refuses new ones,
    ``start`` listens again on the same port. Client-to-server bytes are limited to ``upload_bytes_s``."""

    def __init__(self, target_port: int, *, upload_bytes_s: float | None = None) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.upload_bytes_s = upload_bytes_s
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Cut: close the listening socket and every open connection, both ways."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                # Wakes the thread blocked in accept(): close() alone leaves that call listening (Linux keeps the
                # socket alive while a syscall holds it), so one more connection would get through the cut.
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # accepted while being cut: the cut wins
                client.close()
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, self.upload_bytes_s), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, rate: float | None) -> None:
        try:
            while data := src.recv(32768):
                if rate:
                    time.sleep(len(data) / rate)
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
