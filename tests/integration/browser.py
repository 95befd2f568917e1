#!/usr/bin/python3
"""tests/integration/browser.py - drives Debian's headless Chromium over the
DevTools protocol (python3-websocket) for the dashboard's test: loads URL,
waits for the page's first refresh (#updated[data-refreshed]), records every
console error, uncaught exception and failed request, reads the elements
with a data-k attribute, saves a screenshot; then, with --action, runs that
shell command and waits (up to --wait seconds) until the value of
--watch changes without a reload, and reads and screenshots again.
Prints one JSON object: {"errors": [...], "first_render_ms": N,
"before": {k: text}, "after": {k: text}}.

Usage: browser.py URL --shots DIR [--action CMD --watch KEY] [--wait S]
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Page:
    def __init__(self, ws):
        self.ws, self.next_id, self.errors = ws, 0, []

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == my:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.event(m)

    def event(self, m):
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))))
        elif meth == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append("exception: %s" % (d.get("exception", {}).get("description") or d.get("text")))
        elif meth == "Log.entryAdded" and p["entry"]["level"] == "error":
            self.errors.append("log: %s %s" % (p["entry"].get("text"), p["entry"].get("url", "")))
        elif meth == "Network.loadingFailed" and not p.get("canceled"):
            self.errors.append("request failed: %s" % p.get("errorText"))

    def pump(self, seconds):
        self.ws.settimeout(0.1)
        end = time.time() + seconds
        while time.time() < end:
            try:
                self.event(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                pass
        self.ws.settimeout(30)

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")

    def values(self):
        return self.js("Object.fromEntries([...document.querySelectorAll('[data-k]')].map(e => [e.dataset.k, e.textContent]))")

    def shot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--shots", required=True)
    ap.add_argument("--action")
    ap.add_argument("--watch")
    ap.add_argument("--wait", type=float, default=30)
    args = ap.parse_args()
    os.makedirs(args.shots, exist_ok=True)
    port, profile = free_port(), tempfile.mkdtemp()
    chrome = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--user-data-dir=" + profile, "--remote-debugging-port=%d" % port,
                               "--window-size=1440,1000", "about:blank"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = {"errors": [], "before": {}, "after": {}}
    try:
        for _ in range(100):
            try:
                tabs = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json" % port, timeout=1))
                target = [t for t in tabs if t.get("type") == "page"][0]
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError("chromium's DevTools did not come up")
        page = Page(websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30,
                                                suppress_origin=True))
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.call(domain + ".enable")
        t0 = time.time()
        page.call("Page.navigate", url=args.url)
        while not page.js("document.getElementById('updated') && document.getElementById('updated').dataset.refreshed"):
            if time.time() - t0 > 30:
                raise RuntimeError("the page never refreshed")
            page.pump(0.05)
        out["first_render_ms"] = round((time.time() - t0) * 1000)
        page.pump(6)  # a second refresh: rates need two rounds
        out["before"] = page.values()
        page.shot(os.path.join(args.shots, "dashboard.png"))
        if args.action:
            subprocess.run(args.action, shell=True, check=True)
            end = time.time() + args.wait
            while time.time() < end and page.values().get(args.watch) == out["before"].get(args.watch):
                page.pump(0.5)
            out["after"] = page.values()
            page.shot(os.path.join(args.shots, "dashboard-updated.png"))
        page.pump(0.5)
        out["errors"] = page.errors
    finally:
        chrome.terminate()
        try:
            chrome.wait(10)
        except subprocess.TimeoutExpired:
            chrome.kill()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
