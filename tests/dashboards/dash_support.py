"""Shared pieces of the dashboard and rules tests (a plain module: a unique name on sys.path).

Besides the expression walkers, the real components the end-to-end tests start on free loopback
ports and always stop: Prometheus, Alertmanager and a webhook receiver that records what
Alertmanager sends. Waits poll (never a fixed sleep) with generous deadlines: the machine may be
a loaded 2-core CI runner.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"

# A raw runwatch metric (not a recorded series such as api:runwatch_runs:rate5m) and the body of
# the matcher braces that follow it, if any.
RAW_METRIC = re.compile(r"(?<![:\w])(runwatch_[a-z_]+)(?![:\w])(\{[^}]*\})?")

# Debian's package names for the binaries (upstream names first, then Debian's own).
_PACKAGES = {"prometheus": "prometheus", "promtool": "prometheus", "alertmanager": "prometheus-alertmanager",
             "amtool": "prometheus-alertmanager"}  # fmt: skip
_ALIASES = {"alertmanager": ("alertmanager", "prometheus-alertmanager")}


def binary(name: str) -> str:
    """The path of a Prometheus binary; a missing binary FAILS (CI installs it), never skips."""
    for candidate in _ALIASES.get(name, (name,)):
        path = shutil.which(candidate)
        if path is not None:
            return path
    pytest.fail(f"{name} is not installed (Debian/Ubuntu: apt-get install {_PACKAGES.get(name, name)})")


def dashboard_exprs(dashboard: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) for every target of every panel."""
    for panel in dashboard["panels"]:  # type: ignore[attr-defined]
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def rule_exprs(rules_yaml: str) -> Iterator[tuple[str, str]]:
    """(record or alert name, expr) for every rule."""
    import yaml

    for group in yaml.safe_load(rules_yaml)["groups"]:
        for rule in group["rules"]:
            yield rule.get("record") or rule["alert"], rule["expr"]


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Signal ``proc`` and reap it; SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def http_ok(url: str) -> bool:
    """True if ``url`` answers 200 now (False while the server is not up yet)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def poll(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def get_json(url: str, path: str, params: list[tuple[str, str]] | None = None) -> Any:
    """GET a Prometheus-style API and return its ``data`` (status must be success)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def query(url: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    params = [("query", expr)] + ([("time", f"{at:.3f}")] if at is not None else [])
    return get_json(url, "/api/v1/query", params)["result"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def _process(name: str, argv: list[str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited {proc.returncode}: {log.read_text()}")
            return http_ok(ready_url)

        poll(f"{name} ready", ready, 60, 0.1)
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def prometheus(
    jobs: dict[str, str],
    rule_files: dict[str, str],
    tmp: Path,
    *,
    alertmanager: str | None = None,
    exemplars: bool = False,
) -> Iterator[str]:
    """A real Prometheus on loopback scraping ``jobs`` (job name -> target) and evaluating the
    ``rule_files`` (file name -> text) every second; sends alerts to ``alertmanager``
    (host:port) if given. Yields its URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name, text in rule_files.items():
        (tmp / name).write_text(text, encoding="utf-8")
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / name) for name in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in jobs.items()
        ],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    (tmp / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary("prometheus"),
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        *(["--enable-feature=exemplar-storage"] if exemplars else []),
    ]
    with _process("prometheus", argv, tmp / "prometheus.log", f"{url}/-/ready"):
        yield url


@contextlib.contextmanager
def alertmanager(config_yaml: str, tmp: Path) -> Iterator[str]:
    """A real Alertmanager on loopback (clustering off) with ``config_yaml``. Yields host:port."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "alertmanager.yml").write_text(config_yaml, encoding="utf-8")
    port = free_port()
    argv = [
        binary("alertmanager"),
        f"--config.file={tmp / 'alertmanager.yml'}",
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with _process("alertmanager", argv, tmp / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready"):
        yield f"127.0.0.1:{port}"


@dataclass
class Webhook:
    """What Alertmanager posted: one entry per notification, (path, payload)."""

    url: str
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def notifications(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return list(self.received)


@contextlib.contextmanager
def webhook() -> Iterator[Webhook]:
    """A loopback HTTP server recording every POST (an Alertmanager webhook receiver)."""
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hook.lock:
                hook.received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def with_webhook(fragment_yaml: str, hook: Webhook, **route_overrides: str) -> str:
    """The shipped Alertmanager fragment with its two placeholder receivers sending to ``hook``
    (``/<receiver name>``), nothing else changed but ``route_overrides`` on the root and the
    runwatch route (timings such as ``group_wait``). Returned as JSON text (JSON is YAML)."""
    import yaml

    config = yaml.safe_load(fragment_yaml)
    for receiver in config["receivers"]:
        receiver["webhook_configs"] = [{"url": f"{hook.url}/{receiver['name']}", "send_resolved": False}]
    config["route"].update(route_overrides)
    config["route"]["routes"][0].update(route_overrides)
    return json.dumps(config)
