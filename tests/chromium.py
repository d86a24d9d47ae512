"""Headless Chromium for tests: open a local HTML file, record every request the page makes and every console or
script error, evaluate expressions and take screenshots, through the DevTools protocol over a pipe (no port).

Chromium itself (not the page) calls Google services in the background even with --disable-background-networking;
all of its traffic is sent to a proxy on 127.0.0.1 that answers nothing, so a test never reaches the network. The
page's own requests are told apart by the DevTools session attached to the page.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import zlib

import common

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def find_or_install():
    """The chromium binary; installed with apt-get (Debian's `chromium`) when missing and we are root, else Skip."""
    path = shutil.which("chromium")
    if path:
        return path
    if os.geteuid() != 0:
        raise common.Skip("chromium is not installed and installing it needs root: apt-get install chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if proc.returncode:
            raise common.Skip(f"{' '.join(cmd)} failed (Debian mirror unreachable?): {proc.stderr[-500:]}")
    path = shutil.which("chromium")
    if not path:
        raise common.Skip("apt-get installed chromium but there is no chromium command")
    return path


class _Sink:
    """A proxy that accepts connections, counts them and closes them: where Chromium's own traffic goes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.sock.close()


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, tmp, width=1100, height=1400):
        self.binary = find_or_install()
        self.sink = _Sink()
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def plumb():  # the child reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [self.binary] + FLAGS + [f"--user-data-dir={os.path.join(tmp, 'chromium-profile')}",
                                     "--remote-debugging-pipe", f"--proxy-server=http://127.0.0.1:{self.sink.port}",
                                     "--proxy-bypass-list=<-loopback>", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=plumb,
            close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except Exception:  # already gone: the kill below is enough
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self.sink.close()

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            if time.time() > deadline:
                raise AssertionError("chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise AssertionError(f"chromium closed the DevTools pipe (exit code {self.proc.poll()})")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=False, timeout=60):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method, timeout=60):
        deadline = time.time() + timeout
        for ev in self.events:
            if ev["method"] == method:
                return ev
        while True:
            ev = self._read_message(deadline)
            if "method" in ev:
                self.events.append(ev)
                if ev["method"] == method:
                    return ev

    def open(self, path):
        """Loads a local file and waits for its load event."""
        self.url = "file://" + os.path.abspath(path)
        self.call("Page.navigate", {"url": self.url}, session=True)
        self.wait_for("Page.loadEventFired")
        self.evaluate("1")  # drains the events queued behind the load event

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requests(self):
        """URLs the page requested (its own document included)."""
        return [ev["params"]["request"]["url"] for ev in self.events if ev["method"] == "Network.requestWillBeSent"]

    def errors(self):
        """Script exceptions, console errors and logged errors (a refused load, a CSP violation)."""
        out = []
        for ev in self.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry'].get('text')}")
            elif m == "Network.loadingFailed":
                out.append(f"load failed: {p.get('errorText')}")
        return out

    def screenshot(self, x, y, width, height, scale=1.0, fast=False):
        """PNG bytes of that part of the page (CSS pixels)."""
        result = self.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "optimizeForSpeed": fast,
            "clip": {"x": x, "y": y, "width": width, "height": height, "scale": scale}}, session=True, timeout=120)
        return base64.b64decode(result["data"])


def decode_png(data):
    """(height, width, channels) uint8 numpy array of an 8-bit RGB or RGBA, non-interlaced PNG."""
    import numpy as np

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG: depth {depth} colour {colour}"
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.int32)
    for r in range(height):
        kind, line = raw[r, 0], raw[r, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            cur = (line + prev) % 256
        else:  # Average and Paeth depend on the pixel to the left: one pixel at a time
            cur = np.zeros_like(line)
            for i in range(0, width * bpp, bpp):
                a = cur[i - bpp:i] if i else np.zeros(bpp, dtype=np.int32)
                b, c = prev[i:i + bpp], prev[i - bpp:i] if i else np.zeros(bpp, dtype=np.int32)
                if kind == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
                cur[i:i + bpp] = (line[i:i + bpp] + pred) % 256
        out[r] = cur
        prev = cur
    return out.reshape(height, width, bpp)


def main(argv):
    """`python3 tests/chromium.py REPORT.html OUT.png`: the top of a userec report (warnings, facts, map and score
    distributions) at half scale, as docs/report.png is made."""
    import sys
    import tempfile

    if len(argv) != 3:
        sys.exit(main.__doc__)
    with tempfile.TemporaryDirectory(prefix="userec-shot-") as tmp, Browser(tmp) as browser:
        browser.open(argv[1])
        bottom = browser.evaluate("(() => { const t = document.querySelectorAll('#scores ~ table')[0]; "
                                  "const r = t.getBoundingClientRect(); return r.bottom + scrollY + 16; })()")
        png = browser.screenshot(0, 0, 1100, bottom, scale=0.5)
    with open(argv[2], "wb") as f:
        f.write(png)
    print(f"{argv[2]}: {len(png)} bytes")


if __name__ == "__main__":
    import sys

    main(sys.argv)
