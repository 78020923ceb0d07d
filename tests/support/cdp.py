"""A minimal Chrome DevTools Protocol client (headless Chromium, stdlib only): start the
browser on a page, evaluate JavaScript in it, read the result. Enough to click through a page.

The WebSocket framing is RFC 6455's, client side: masked text frames out, unmasked frames in.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

# Headless Chromium in a sandbox without a display or network: no GPU, no background
# connections (tests/test_docs_page.py uses the same).
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLAGS = [*HEADLESS, "--remote-debugging-port=0", "--remote-allow-origins=*"]


class WebSocket:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        match = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        assert match, url
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(4096)
        assert response.startswith(b"HTTP/1.1 101"), response[:200]
        self.buffer = response.split(b"\r\n\r\n", 1)[1]

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytes([0x81])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(length)
            message += payload
            if first & 0x80:  # FIN
                return message.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Page:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return dict(message["result"])

    def wait_loaded(self, url: str, deadline: float) -> None:
        """Until the page shows ``url``, fully loaded (the first target starts as about:blank)."""
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                state = self.evaluate("location.href + ' ' + document.readyState", timeout=5)
                if state == f"{url} complete":
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{url} did not load")

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of ``expression`` (awaited if it is a promise)."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            timeout=int(timeout * 1000),
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")


def _devtools_port(process: subprocess.Popen[str], deadline: float) -> int:
    """The port Chromium's DevTools endpoint listens on, from its stderr; the rest of its
    stderr is drained from then on (a full pipe would block the browser)."""
    assert process.stderr is not None
    port = None
    while port is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            port = int(found.group(1))
    assert port is not None, "Chromium did not start its DevTools endpoint"
    stderr = process.stderr
    threading.Thread(target=lambda: stderr.read(), daemon=True).start()
    return port


@contextlib.contextmanager
def _chromium(chromium: str, url: str) -> Iterator[subprocess.Popen[str]]:
    """Headless Chromium with DevTools on a free port and a profile of its own, showing
    ``url``; killed on exit."""
    with tempfile.TemporaryDirectory(prefix="fns-chromium-") as profile:
        process = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield process
        finally:
            process.kill()
            process.wait(timeout=10)
            if process.stderr is not None:
                process.stderr.close()


def _attach(port: int, target_id: str) -> Page:
    # Evaluations may await for long: the socket waits longer than any of them.
    return Page(WebSocket(f"ws://127.0.0.1:{port}/devtools/page/{target_id}", timeout=180))


@contextlib.contextmanager
def open_page(chromium: str, url: str, timeout: float = 30.0) -> Iterator[Page]:
    """Headless Chromium showing ``url``; yields a Page to drive it."""
    with _chromium(chromium, url) as process:
        page = None
        try:
            deadline = time.monotonic() + timeout
            port = _devtools_port(process, deadline)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.load(r)
            page = _attach(port, next(t["id"] for t in targets if t["type"] == "page"))
            page.wait_loaded(url, deadline)
            yield page
        finally:
            if page is not None:
                page.ws.close()


class Browser:
    """One headless Chromium for several tests, cheaper than a browser each (a fresh browser
    context per page costs more than a new browser). Before each page opens, the cookies and
    storage of its origin are cleared, so no page sees what an earlier one left; they share
    only the HTTP cache (the same responses, fetched once)."""

    def __init__(self, port: int) -> None:
        self.port = port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=5) as r:
            url = json.load(r)["webSocketDebuggerUrl"]
        self.connection = Page(WebSocket(url))  # the browser target: Target.* commands

    @contextlib.contextmanager
    def open(self, url: str, timeout: float = 30.0) -> Iterator[Page]:
        """A new page showing ``url`` (loaded); closed afterwards."""
        deadline = time.monotonic() + timeout
        origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(url))
        target = self.connection.call("Target.createTarget", url="about:blank")["targetId"]
        page = None
        try:
            page = _attach(self.port, target)
            page.call("Storage.clearDataForOrigin", origin=origin, storageTypes="all")
            page.call("Page.navigate", url=url)
            page.wait_loaded(url, deadline)
            yield page
        finally:
            if page is not None:
                page.ws.close()
            self.connection.call("Target.closeTarget", targetId=target)


@contextlib.contextmanager
def launch_browser(chromium: str, timeout: float = 30.0) -> Iterator[Browser]:
    """Headless Chromium for ``Browser.open``; killed on exit."""
    with _chromium(chromium, "about:blank") as process:
        browser = Browser(_devtools_port(process, time.monotonic() + timeout))
        try:
            yield browser
        finally:
            browser.connection.ws.close()
