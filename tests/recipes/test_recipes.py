"""The README's recipes, run as written: each ``<!-- recipe: NAME -->`` block is taken from
README.md and run in a real process against the embedded demo server (``OPENAI_BASE_URL`` points
the unmodified ``openai.OpenAI()`` at it). Spans go to a real OTLP/HTTP receiver on loopback or to
the console; metrics are scraped from real uvicorn and gunicorn workers sharing
``PROMETHEUS_MULTIPROC_DIR``; the openai-agents SDK drives ``Runner.run_streamed`` through an
instrumented client. A README edit that breaks a recipe fails here."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runwatch.demo.server import DemoServer

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent
TIMEOUT = 120


def recipe(name: str) -> str:
    """The code block right after ``<!-- recipe: name -->`` in README.md."""
    text = README.read_text()
    match = re.search(rf"<!-- recipe: {re.escape(name)} -->\n```\w*\n(.*?)\n```", text, flags=re.S)
    assert match, f"README.md has no recipe {name!r}"
    return match.group(1) + "\n"


def shell(block: str) -> str:
    """A shell recipe without its ``pip install`` line (the dev environment has the extras)."""
    return "\n".join(line for line in block.splitlines() if not line.startswith("pip install")) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The process environment of a recipe: the venv's tools first on PATH, no stray OTel config,
    the Agents SDK's own tracing upload off (it would call out to the network)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_", "OPENAI_"))}
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    base["OPENAI_API_KEY"] = "demo"
    base["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    base["PYTHONUNBUFFERED"] = "1"
    return base


def _demo(mix: str) -> DemoServer:
    return DemoServer(mix=mix, speed=100, seed=1).start()


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


# ------------------------------------------------------------------------------- OTLP receiver
class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.bodies.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Any]:
    """An OTLP/HTTP endpoint on loopback that keeps what it receives."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def received_spans(collector: Any) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """(resource attributes, span attributes, span name) of every span the collector received."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    def value(v: Any) -> Any:
        return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None

    out = []
    for path, body in collector.bodies:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            resource = {a.key: value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    out.append((resource, {a.key: value(a.value) for a in span.attributes}, span.name))
    return out


# ----------------------------------------------------------------------------------- recipes
def test_zero_code_console(tmp_path: Path, env: dict[str, str]) -> None:
    """``opentelemetry-instrument python app.py`` with OTEL_TRACES_EXPORTER=console: the app,
    which never imports runwatch, gets a run span with its outcome printed on the console."""
    (tmp_path / "app.py").write_text(recipe("app"))
    with _demo("responses/incomplete:max_output_tokens=1") as demo:
        env["OPENAI_BASE_URL"] = demo.url + "/v1"
        proc = run(["bash", "-c", shell(recipe("zero-code-console"))], tmp_path, env)
    assert '"name": "chat gpt-4o"' in proc.stdout
    assert '"runwatch.run.status": "incomplete"' in proc.stdout
    assert '"runwatch.run.incomplete_reason": "max_output_tokens"' in proc.stdout


def test_zero_code_otlp(tmp_path: Path, env: dict[str, str], collector: Any) -> None:
    """The zero-code OTLP line (its endpoint pointed at a local receiver): the run span arrives
    over OTLP/HTTP with the service name from OTEL_SERVICE_NAME."""
    (tmp_path / "app.py").write_text(recipe("app"))
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    script = shell(recipe("zero-code-otlp")).replace("http://localhost:4318", endpoint)
    assert endpoint in script
    with _demo("responses/completed=1") as demo:
        env["OPENAI_BASE_URL"] = demo.url + "/v1"
        run(["bash", "-c", script], tmp_path, env)
    runs = [(r, a, n) for r, a, n in received_spans(collector) if "runwatch.run.status" in a]
    assert len(runs) == 1
    resource, attrs, name = runs[0]
    assert name == "chat gpt-4o"
    assert attrs["runwatch.run.status"] == "completed"
    assert resource["service.name"] == "my-app"


@pytest.mark.parametrize("exporter", ["otlp", "console"])
def test_spans_in_code(tmp_path: Path, env: dict[str, str], collector: Any, exporter: str) -> None:
    """The in-code recipe as written (OTLP to OTEL_EXPORTER_OTLP_ENDPOINT) and with the one swap
    the README names (ConsoleSpanExporter): ``runwatch.instrument()`` without a client observes
    the client created after it."""
    code = recipe("otlp-in-code")
    if exporter == "console":
        code = code.replace(
            "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter",
            "from opentelemetry.sdk.trace.export import ConsoleSpanExporter",
        ).replace("OTLPSpanExporter()", "ConsoleSpanExporter()")
        assert "ConsoleSpanExporter()" in code
    (tmp_path / "main.py").write_text(code)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{collector.server_address[1]}"
    env["OTEL_SERVICE_NAME"] = "in-code"
    with _demo("responses/failed:server_error=1") as demo:
        env["OPENAI_BASE_URL"] = demo.url + "/v1"
        proc = run([sys.executable, "main.py"], tmp_path, env)
    if exporter == "console":
        assert '"runwatch.run.status": "failed"' in proc.stdout
        assert collector.bodies == []
    else:
        runs = [(r, a) for r, a, _ in received_spans(collector) if "runwatch.run.status" in a]
        assert [(r["service.name"], a["runwatch.run.status"], a["error.type"]) for r, a in runs] == [
            ("in-code", "failed", "server_error")
        ]


# ------------------------------------------------------------------------------- web workers
class Server:
    """A web server process of a recipe, stopped (with its workers) at the end."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"server-{port}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str) -> str:
        request = urllib.request.Request(self.url + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                self.get("/metrics")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("server not ready:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and the workers it started
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self._out.close()


def runs_total(metrics_text: str) -> dict[tuple[str, str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "runwatch_runs_total":
                key = (sample.labels["api"], sample.labels["status"], sample.labels["reason"])
                out[key] = out.get(key, 0.0) + sample.value
    return out


def test_fastapi_one_process(tmp_path: Path, env: dict[str, str]) -> None:
    """The FastAPI recipe under ``uvicorn app:app``: /ask streams through the instrumented
    AsyncOpenAI client, /metrics shows the run with its outcome."""
    (tmp_path / "app.py").write_text(recipe("fastapi"))
    port = free_port()
    with _demo("responses/incomplete:max_output_tokens=1") as demo:
        env["OPENAI_BASE_URL"] = demo.url + "/v1"
        server = Server(["uvicorn", "app:app", "--port", str(port)], tmp_path, env, port)
        try:
            server.wait_ready()
            assert json.loads(server.post("/ask?question=hi"))["answer"]
            assert runs_total(server.get("/metrics")) == {
                ("responses", "incomplete", "max_output_tokens"): 1.0
            }
        finally:
            server.stop()


def _until_two_workers(server: Server, multiproc: Path, path: str, method: str) -> int:
    """Send requests until samples from two worker processes are in the directory; returns how
    many requests were sent."""
    sent = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for _ in range(4):
            server.post(path) if method == "POST" else server.get(path)
            sent += 1
        pids = {m.group(1) for f in multiproc.iterdir() if (m := re.search(r"_(\d+)\.db$", f.name))}
        if len(pids) >= 2:
            return sent
    raise AssertionError(f"requests never reached two workers: {sorted(multiproc.iterdir())}")


@pytest.mark.parametrize("server_kind", ["uvicorn", "gunicorn"])
def test_many_workers_with_prometheus_multiproc_dir(
    tmp_path: Path, env: dict[str, str], server_kind: str
) -> None:
    """Real workers (``uvicorn --workers`` with the FastAPI recipe, ``gunicorn -w`` with the WSGI
    recipe and its child_exit hook) sharing PROMETHEUS_MULTIPROC_DIR: requests served by two
    different worker processes all show in one /metrics scrape, each counted once."""
    multiproc = tmp_path / "runwatch-metrics"
    port = free_port()
    setup = shell(recipe("workers")).replace("/tmp/runwatch-metrics", str(multiproc))
    if server_kind == "uvicorn":
        (tmp_path / "app.py").write_text(recipe("fastapi"))
        start = setup.replace("--workers 4", f"--workers 2 --port {port}")
        assert f"--port {port}" in start
        path, method, mix, key = (
            "/ask?question=hi",
            "POST",
            "responses/completed=1",
            ("responses", "completed", "none"),
        )
    else:
        wsgi, conf = recipe("gunicorn").split("# gunicorn.conf.py\n")
        (tmp_path / "wsgi.py").write_text(wsgi)
        (tmp_path / "gunicorn.conf.py").write_text(conf)
        command = re.search(r"```sh\n(gunicorn [^\n#]*)", README.read_text())
        assert command
        launch = command.group(1).strip().replace("-w 4", f"-w 2 -b 127.0.0.1:{port}")
        start = setup.replace("uvicorn app:app --workers 4", launch)
        assert "gunicorn -w 2" in start
        path, method, mix, key = "/", "GET", "chat/incomplete:length=1", ("chat", "incomplete", "length")
    with _demo(mix) as demo:
        env["OPENAI_BASE_URL"] = demo.url + "/v1"
        server = Server(["bash", "-c", start], tmp_path, env, port)
        try:
            server.wait_ready()
            sent = _until_two_workers(server, multiproc, path, method)
            assert runs_total(server.get("/metrics")) == {key: float(sent)}
        finally:
            server.stop()


# ---------------------------------------------------------------------------- openai-agents
HARNESS = """
import json, runpy, sys
try:
    runpy.run_path("agents_app.py", run_name="__main__")
except Exception as exc:
    print("RAISED", type(exc).__name__, file=sys.stderr)
from prometheus_client import REGISTRY
runs = [
    [s.labels["api"], s.labels["status"], s.labels["reason"], s.value]
    for m in REGISTRY.collect() for s in m.samples if s.name == "runwatch_runs_total"
]
print("RUNS " + json.dumps(runs))
"""


@pytest.mark.parametrize(
    ("mix", "expected", "raised"),
    [
        pytest.param("responses/completed=1", ["responses", "completed", "none", 1.0], None, id="completed"),
        pytest.param(
            "responses/incomplete:max_output_tokens=1",
            ["responses", "incomplete", "max_output_tokens", 1.0],
            "ModelBehaviorError",
            id="incomplete-raises-in-the-sdk",
        ),
    ],
)
def test_openai_agents_run_streamed(
    tmp_path: Path, env: dict[str, str], mix: str, expected: list[Any], raised: str | None
) -> None:
    """The agents recipe: ``set_default_openai_client(runwatch.instrument(AsyncOpenAI()))`` and
    ``Runner.run_streamed`` against the demo server. The run is counted with its outcome, also
    when the Agents SDK raises on it (what the README says about ``response.incomplete``)."""
    pytest.importorskip("agents")  # a dev dependency: installed by ./dev and CI
    (tmp_path / "agents_app.py").write_text(recipe("agents"))
    (tmp_path / "harness.py").write_text(HARNESS)
    with _demo(mix) as demo:
        env["OPENAI_BASE_URL"] = demo.url + "/v1"
        proc = run([sys.executable, "harness.py"], tmp_path, env)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RUNS "))
    assert [r for r in json.loads(line[5:]) if r[3]] == [expected]
    if raised is None:
        assert "RAISED" not in proc.stderr
        assert proc.stdout.splitlines()[0].strip()  # the final output was printed
    else:
        assert f"RAISED {raised}" in proc.stderr


DRIVE_ONE_CHAT = """
import openai as _openai
_client = runwatch.instrument(_openai.OpenAI(), observer=observer)
for _ in _client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
):
    pass
"""


@pytest.mark.parametrize("name", ["observer", "sink"])
def test_quick_start_snippets_run_as_written(tmp_path: Path, env: dict[str, str], name: str) -> None:
    """The Quick start's Observer and custom-sink snippets import what they use and work: each is
    run as written, then one chat stream goes through an instrumented client with that observer
    (the sink prints the run's id, status and reason)."""
    (tmp_path / "snippet.py").write_text(recipe(name) + DRIVE_ONE_CHAT)
    with _demo("chat/incomplete:length=1") as demo:
        env["OPENAI_BASE_URL"] = demo.url + "/v1"
        proc = run([sys.executable, "snippet.py"], tmp_path, env)
    if name == "sink":
        assert re.search(r"^chatcmpl-\S+ incomplete length$", proc.stdout, flags=re.M), proc.stdout


def test_every_recipe_is_tested() -> None:
    """Each recipe marker in README.md is one of those run above (a new recipe needs a test)."""
    names = set(re.findall(r"<!-- recipe: ([\w-]+) -->", README.read_text()))
    tested = {"app", "zero-code-console", "zero-code-otlp", "otlp-in-code", "fastapi", "workers", "gunicorn"}
    tested |= {"agents", "observer", "sink"}
    assert names == tested
