"""What ``pip install runwatch`` gives a user, proven from the built sdist and wheel.

The package is built as a release is (``python -m build``: the sdist, then the wheel from the
sdist; build and twine live in a throwaway venv), installed into fresh venvs (no extras, then
``[openai]``) and run from outside the repo with a user's environment (no ``RUNWATCH_*``,
``OTEL_*``, ``PYTHON*``). Slow: about two minutes of venvs and pip installs from the package index.
``.ci/run`` does the same steps in shell; the whole suite also runs from the unpacked sdist there.

The first tests need no build: the CLI's handling of a missing optional dependency, in-process.
"""

from __future__ import annotations

import email.message
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import runwatch
from runwatch import cli

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
#: The version as written in the source, read as text (what hatch reads), not imported.
SOURCE_VERSION = re.findall(r'^__version__ = "(.+)"$', (REPO / "src/runwatch/__init__.py").read_text(), re.M)

#: Modules of the wheel that need an extra to import: module -> the missing module's name. Every
#: other module imports with no extra installed (test_every_module_imports_without_extras).
NEEDS_AN_EXTRA = {
    "runwatch._dashgen.grafana": "grafana_foundation_sdk",  # build time only: dashboards/build.py
    "runwatch.instrumentation": "opentelemetry.instrumentation",  # zero-code mode: the launcher's package
}

#: expected.json cases a replay cannot reproduce: the resume's second file names the response only
#: in its terminal event, and a replay has no request URL (GET /responses/{id}) to join it by.
REPLAY_NEEDS_REQUESTS = {"responses_resume"}


def one_line_error(err: str, *needles: str) -> None:
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


# ------------------------------------------------------------------ the CLI, in-process (fast)
MISSING = " is not installed: pip install 'runwatch["


@pytest.mark.parametrize(
    ("module", "hint"),
    [
        pytest.param("openai", "the openai SDK" + MISSING + "openai]'", id="openai"),
        pytest.param("openai._client", "the openai SDK" + MISSING + "openai]'", id="openai-submodule"),
        pytest.param(
            "opentelemetry.exporter.otlp.proto.http",
            "the OTLP exporter (opentelemetry-exporter-otlp-proto-http)" + MISSING + "otlp]'",
            id="otlp",
        ),
        pytest.param(
            "opentelemetry.instrumentation",
            "opentelemetry-instrumentation (zero-code mode)" + MISSING + "instrument]'",
            id="instrument",
        ),
        pytest.param(
            "grafana_foundation_sdk.builders",
            "grafana-foundation-sdk (build time only)" + MISSING + "dashboards]'",
            id="grafana",
        ),
        pytest.param("openaix", None, id="a-name-that-only-starts-alike"),
        pytest.param("opentelemetry", None, id="a-required-dependency"),
        pytest.param("runwatch._nope", None, id="runwatch-itself"),
        pytest.param(None, None, id="no-name"),
    ],
)  # fmt: skip
def test_install_hint(module: str | None, hint: str | None) -> None:
    """An optional module (or a submodule of one) maps to the extra that installs it; any other
    missing module is not an optional dependency (a bug or a broken environment: traceback)."""
    assert cli.install_hint(module) == hint


def test_every_hint_names_a_declared_extra() -> None:
    """Each extra a hint names is declared in pyproject.toml (a renamed extra would send users to
    an install that does nothing)."""
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    assert {extra for _, extra in cli.OPTIONAL.values()} <= extras


# Python with the openai SDK made unimportable: a user without the extra.
NO_OPENAI = (
    "import sys; sys.modules['openai'] = None; from runwatch.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["demo", "--runs", "8", "--json"], id="demo-json"),
        pytest.param(["demo", "--serve"], id="demo-serve"),
        pytest.param(["demo"], id="demo"),
    ],
)
def test_demo_without_the_sdk_is_one_line(argv: list[str]) -> None:
    """Without the openai SDK, ``runwatch demo`` (any options) prints one line naming the extra and
    exits 2 before starting anything: nothing on stdout, no server line, no traceback."""
    done = subprocess.run(
        [sys.executable, "-c", NO_OPENAI, *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (2, "")
    one_line_error(done.stderr, "runwatch demo: ", "pip install 'runwatch[openai]'")


def test_a_missing_optional_module_deeper_in_a_command_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An optional module a command imports past the up-front check still ends as one line and
    exit 2; a missing module that is not optional propagates (a bug must show its traceback)."""
    for name, expect in [("opentelemetry.exporter.otlp.proto", "'runwatch[otlp]'"), ("yaml", None)]:

        def command(args: Any, name: str = name) -> int:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        monkeypatch.setattr(cli, "_replay", command)
        if expect is None:
            with pytest.raises(ModuleNotFoundError):
                cli.main(["replay", "x.sse"])
            continue
        assert cli.main(["replay", "x.sse"]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        one_line_error(err, "runwatch replay: ", expect)


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """``runwatch --version`` prints ``runwatch <runwatch.__version__>`` and exits 0."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"runwatch {runwatch.__version__}\n"


def test_readme_install_section() -> None:
    """The README still starts with the two fresh-machine commands, then an Install section (above
    the development notes) whose extras table lists exactly the extras pyproject.toml declares
    and whose example hint is the one the CLI prints."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == [["./dev", "demo"], ["./dev", "test"]]
    starts, install = readme.index("```sh\n./dev demo"), readme.index("\n## Install\n")
    assert starts < readme.index("\n## ") <= install < readme.index("\n## Development")
    section = readme.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    assert "pip install 'runwatch[openai]'" in section
    rows = re.findall(r"^\| `([a-z-]+)` \|", section, re.M)
    assert sorted(rows) == sorted(PYPROJECT["project"]["optional-dependencies"])
    assert f"`runwatch demo: {cli.install_hint('openai')}`" in section


# --------------------------------------------------------------------- building and installing
@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def pip(self, *args: str) -> None:
        run([str(self.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args], 900)

    def run(
        self, *argv: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of this venv (a bare name) or a path, as a user's shell would."""
        head, *rest = argv
        exe = self.bin(head) if isinstance(head, str) else head
        return subprocess.run(
            [str(exe), *map(str, rest)],
            cwd=cwd,
            env=user_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def user_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's shell: none of the test suite's or the repo venv's settings."""
    drop = ("RUNWATCH_", "OTEL_", "PYTHON", "PYTEST_", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra or {})
    return env


def run(argv: list[str], timeout: float, cwd: Path | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=user_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def make_venv(root: Path, python: str | Path = sys.executable) -> Venv:
    run([str(python), "-m", "venv", "--clear", str(root)], 300)
    return Venv(root)


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path
    direct_wheel: Path  # built from the repo tree, not from the sdist
    tools: Venv


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    base = tmp_path_factory.mktemp("dists")
    tools = make_venv(base / "tools")
    tools.pip("build", "twine")
    run([str(tools.python), "-m", "build", "--outdir", str(base / "release"), str(REPO)], 900)
    run([str(tools.python), "-m", "build", "--wheel", "--outdir", str(base / "direct"), str(REPO)], 900)
    (sdist,) = (base / "release").glob("runwatch-*.tar.gz")
    (wheel,) = (base / "release").glob("runwatch-*.whl")
    (direct,) = (base / "direct").glob("runwatch-*.whl")
    return Dists(sdist, wheel, direct, tools)


@pytest.fixture(scope="module")
def sdist_tree(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    with tarfile.open(dists.sdist) as tar:
        tar.extractall(out, filter="data")
    (root,) = out.iterdir()
    return root


@pytest.fixture(scope="module")
def bare(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    env = make_venv(tmp_path_factory.mktemp("bare") / "venv")
    env.pip(str(dists.wheel))
    return env


@pytest.fixture(scope="module")
def with_openai(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    env = make_venv(tmp_path_factory.mktemp("with-openai") / "venv")
    env.pip(f"{dists.wheel}[openai]")
    return env


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory outside the repo: nothing there shadows the installed package."""
    return tmp_path


def wheel_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def metadata(wheel: Path) -> email.message.Message:
    files = wheel_files(wheel)
    (name,) = (n for n in files if n.endswith(".dist-info/METADATA"))
    return email.parser.BytesParser().parsebytes(files[name])


# -------------------------------------------------------------------------------- the dists
def test_twine_check_passes(dists: Dists) -> None:
    """``twine check --strict`` accepts the sdist and the wheel (the README renders as the long
    description, the metadata is what an index accepts)."""
    out = run([str(dists.tools.bin("twine")), "check", "--strict", str(dists.sdist), str(dists.wheel)], 300)
    assert out.count("PASSED") == 2, out


def test_wheel_from_sdist_equals_wheel_from_repo(dists: Dists) -> None:
    """The wheel built from the sdist has exactly the files, byte for byte, of the wheel built
    straight from the repo: the sdist loses nothing the package needs."""
    from_sdist, from_repo = wheel_files(dists.wheel), wheel_files(dists.direct_wheel)
    assert sorted(from_sdist) == sorted(from_repo)
    assert [n for n in from_sdist if from_sdist[n] != from_repo[n]] == []


def test_sdist_carries_every_tracked_file(dists: Dists) -> None:
    """Every file git tracks is in the sdist (tests, their data, docs, dashboards, benchmarks):
    what the tests read is there, and .ci/run runs the whole suite from the unpacked sdist."""
    if not (REPO / ".git").exists():
        pytest.skip("run from an unpacked sdist: no git checkout to compare the sdist with")
    tracked = run(["git", "ls-files", "-z"], 60, cwd=REPO).split("\0")
    with tarfile.open(dists.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    missing = [f for f in tracked if f and f not in names and (REPO / f).exists()]
    assert missing == []
    assert {"LICENSE", "PKG-INFO", "pyproject.toml", "README.md"} <= names


def test_license_file_in_wheel_and_sdist(dists: Dists) -> None:
    """The LICENSE file ships in the wheel (``.dist-info/licenses/``) and the sdist, identical to
    the repo's, and is the text of the license the metadata names (Apache-2.0)."""
    license_text = (REPO / "LICENSE").read_bytes()
    assert license_text.lstrip().startswith(b"Apache License\n                           Version 2.0")
    in_wheel = wheel_files(dists.wheel)[f"runwatch-{runwatch.__version__}.dist-info/licenses/LICENSE"]
    assert in_wheel == license_text
    with tarfile.open(dists.sdist) as tar:
        member = tar.extractfile(f"runwatch-{runwatch.__version__}/LICENSE")
        assert member is not None
        assert member.read() == license_text


@pytest.mark.parametrize(
    ("field", "check"),
    [
        pytest.param("Version", lambda v: v == [runwatch.__version__] == SOURCE_VERSION, id="version"),
        pytest.param("License-Expression", lambda v: v == ["Apache-2.0"], id="license"),
        pytest.param("License-File", lambda v: v == ["LICENSE"], id="license-file"),
        pytest.param("Requires-Python", lambda v: v == [">=3.11"], id="requires-python"),
        pytest.param("Keywords", lambda v: {"openai", "opentelemetry", "prometheus"} <= set(",".join(v).split(",")), id="keywords"),  # noqa: E501
        pytest.param("Classifier", lambda v: {
            "Framework :: OpenTelemetry", "Typing :: Typed", "Programming Language :: Python :: 3 :: Only",
            "Programming Language :: Python :: 3.11",
        } <= set(v), id="classifiers"),
        # PEP 639: the expression replaces license classifiers; PyPI rejects an upload with both.
        pytest.param("Classifier", lambda v: not [c for c in v if c.startswith("License ::")],
                     id="no-license-classifier"),
        # No public home yet: no invented URLs.
        pytest.param("Project-URL", lambda v: v == [], id="no-project-urls"),
        pytest.param("Home-page", lambda v: v == [], id="no-home-page"),
        pytest.param("Provides-Extra", lambda v: {"openai", "otlp", "dashboards"} <= set(v), id="extras"),
        pytest.param("Description-Content-Type", lambda v: v == ["text/markdown"], id="readme-markdown"),
    ],
)  # fmt: skip
def test_metadata(dists: Dists, field: str, check: Any) -> None:
    """The wheel's metadata carries what a user and an index expect, and no more: one version from
    ``runwatch.__version__``, the license, classifiers, keywords, no invented URLs."""
    values = metadata(dists.wheel).get_all(field) or []
    assert check(values), values


def test_version_is_single_sourced() -> None:
    """pyproject.toml declares no version of its own: hatch reads ``__version__``."""
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "src/runwatch/__init__.py"


# --------------------------------------------------------------------- installed, no extras
NEEDS_OPENAI = "runwatch demo: the openai SDK is not installed: pip install 'runwatch[openai]'"


@pytest.mark.parametrize(
    ("argv", "code", "out", "err"),
    [
        pytest.param(("runwatch", "--version"), 0, f"runwatch {runwatch.__version__}\n", "", id="version"),
        pytest.param(("python", "-m", "runwatch", "--version"), 0, f"runwatch {runwatch.__version__}\n", "",
                     id="python-m"),
        pytest.param(("runwatch", "demo", "--runs", "8", "--json"), 2, "", NEEDS_OPENAI, id="demo-json"),
        pytest.param(("runwatch", "demo", "--serve"), 2, "", NEEDS_OPENAI, id="demo-serve"),
        pytest.param(("runwatch", "demo"), 2, "", NEEDS_OPENAI, id="demo"),
    ],
)  # fmt: skip
def test_commands_without_extras(
    bare: Venv, outside: Path, argv: tuple[str, ...], code: int, out: str, err: str
) -> None:
    """Installed with no extra, every command works or says in one line what to install (exit 2,
    nothing on stdout, no traceback)."""
    done = bare.run(*argv, cwd=outside)
    assert (done.returncode, done.stdout) == (code, out), done.stderr
    if err:
        one_line_error(done.stderr, err)
    else:
        assert done.stderr == ""


def test_every_module_imports_without_extras(bare: Venv, outside: Path) -> None:
    """Every module of the wheel imports with no extra installed, except the ones listed in
    NEEDS_AN_EXTRA, which fail on exactly their optional module; and the CLI has a one-line
    install hint for each of those."""
    script = """
import importlib, json, pkgutil, runwatch
result = {}
for m in ["runwatch"] + [i.name for i in pkgutil.walk_packages(runwatch.__path__, "runwatch.")]:
    if m == "runwatch.__main__":
        continue
    try:
        importlib.import_module(m)
        result[m] = None
    except ModuleNotFoundError as exc:
        result[m] = exc.name
print(json.dumps(result))
"""
    done = bare.run("python", "-c", script, cwd=outside)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result) > 40
    assert {m: name for m, name in result.items() if name is not None} == NEEDS_AN_EXTRA
    for name in NEEDS_AN_EXTRA.values():
        assert cli.install_hint(name) is not None, name


def test_replay_of_the_shipped_transcripts(bare: Venv, sdist_tree: Path, outside: Path) -> None:
    """``runwatch replay --json`` (no extra needed) on the sdist's recorded transcripts gives the
    outcomes and totals tests/data/expected.json specifies, for every case a replay can join."""
    data = sdist_tree / "tests" / "data"
    expected = json.loads((data / "expected.json").read_text(encoding="utf-8"))
    assert set(expected) >= REPLAY_NEEDS_REQUESTS
    cases = [c for c in expected if c not in REPLAY_NEEDS_REQUESTS]
    assert len(cases) >= 50
    for case in cases:
        spec = expected[case]
        done = bare.run("runwatch", "replay", "--json", *(data / f for f in spec["files"]), cwd=outside)
        assert (done.returncode, done.stderr) == (0, ""), case
        doc = json.loads(done.stdout)
        want = [{k: r[k] for k in ("api", "run_id", "model", "status", "reason")} for r in spec["runs"]]
        got = [{k: o[k] for k in ("api", "run_id", "model", "status", "reason")} for o in doc["outcomes"]]
        assert sorted(got, key=json.dumps) == sorted(want, key=json.dumps), case
        assert doc["totals"] == dict(Counter(f"{r['status']}/{r['reason']}" for r in spec["runs"])), case


@pytest.mark.prometheus
def test_dashboards_then_promtool(bare: Venv, sdist_tree: Path, outside: Path) -> None:
    """``runwatch dashboards --out DIR`` (no extra) writes the dashboard and rules; promtool accepts
    the rules, and the sdist's hand-written alert unit tests pass against them."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (Debian/Ubuntu: apt-get install prometheus)")
    out = outside / "dash"
    done = bare.run("runwatch", "dashboards", "--out", out, cwd=outside)
    assert done.returncode == 0, done.stderr
    assert {"rules.yml", "runwatch.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "runwatch.json").read_text(encoding="utf-8"))["uid"] == "runwatch"
    shutil.copy(sdist_tree / "dashboards" / "rules.test.yml", out)
    for args in (("check", "rules", "rules.yml"), ("test", "rules", "rules.test.yml")):
        checked = subprocess.run(
            [promtool, *args], cwd=out, capture_output=True, text=True, timeout=300, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS" in checked.stdout


def test_dashboard_build_script_without_the_sdk(bare: Venv, sdist_tree: Path) -> None:
    """The sdist's dashboards/build.py, run against the installed package without the dashboards
    extra, says in one line what to install and writes nothing."""
    done = bare.run("python", sdist_tree / "dashboards" / "build.py", cwd=sdist_tree)
    assert (done.returncode, done.stdout) == (2, "")
    one_line_error(done.stderr, "'.[dashboards]'")


# ----------------------------------------------------------------- installed with [openai]
def demo_summary(env: Venv, cwd: Path) -> dict[str, Any]:
    done = env.run("runwatch", "demo", "--runs", "8", "--json", cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["runs"] == 8
    assert sum(o["count"] for o in summary["outcomes"]) == 8
    if "requested" in summary:  # what the demo server was asked to do is what runwatch counted
        assert summary["outcomes"] == summary["requested"]
    return summary


def test_demo_with_the_sdk(with_openai: Venv, outside: Path) -> None:
    """With ``[openai]`` the installed demo drives 8 runs through the real SDK and prints the full
    JSON summary: every run counted once, each with the outcome the server was asked for."""
    summary = demo_summary(with_openai, outside)
    assert all({"api", "status", "reason", "count"} <= set(o) for o in summary["outcomes"])


def test_demo_with_otlp_endpoint_but_no_exporter(with_openai: Venv, outside: Path) -> None:
    """``OTEL_EXPORTER_OTLP_ENDPOINT`` set without the ``otlp`` extra: one line naming the extra,
    exit 2, no traceback (rather than spans silently going nowhere)."""
    done = with_openai.run(
        "runwatch", "demo", "--runs", "8", "--json", cwd=outside,
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    one_line_error(done.stderr, "pip install 'runwatch[otlp]'")


def test_instrument_a_client(with_openai: Venv, outside: Path) -> None:
    """The README's first line works from the installed package: ``runwatch.instrument`` returns
    the very client it was given."""
    code = "import openai, runwatch; c = openai.OpenAI(api_key='x'); print(runwatch.instrument(c) is c)"
    done = with_openai.run("python", "-c", code, cwd=outside)
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr


def declared_entry_points() -> list[tuple[str, str, str]]:
    project = PYPROJECT["project"]
    points = [("console_scripts", name, value) for name, value in project.get("scripts", {}).items()]
    for group, entries in project.get("entry-points", {}).items():
        points += [(group, name, value) for name, value in entries.items()]
    return points


def test_entry_points_visible_in_installed_metadata(with_openai: Venv, outside: Path) -> None:
    """Every entry point pyproject.toml declares (the ``runwatch`` script; the zero-code
    ``opentelemetry_instrumentor`` once declared) is in the installed distribution's metadata,
    where ``opentelemetry-instrument`` looks for instrumentors."""
    code = (
        "import json; from importlib.metadata import distribution as d; "
        "print(json.dumps(sorted([e.group, e.name, e.value] for e in d('runwatch').entry_points)))"
    )
    done = with_openai.run("python", "-c", code, cwd=outside)
    assert done.returncode == 0, done.stderr
    installed = {tuple(e) for e in json.loads(done.stdout)}
    declared = set(declared_entry_points())
    assert ("console_scripts", "runwatch", "runwatch.cli:main") in declared
    assert declared <= installed


def test_zero_code_instrumentor_loads_with_its_extra(dists: Dists, tmp_path: Path) -> None:
    """Installed with the extra that brings OTel's launcher (``instrument``), each declared
    ``opentelemetry_instrumentor`` entry point loads to an instrumentor class, as
    ``opentelemetry-instrument`` loads it."""
    points = [p for p in declared_entry_points() if p[0] == "opentelemetry_instrumentor"]
    assert points, "pyproject.toml declares no opentelemetry_instrumentor entry point"
    assert "instrument" in PYPROJECT["project"]["optional-dependencies"]
    env = make_venv(tmp_path / "venv")
    env.pip(f"{dists.wheel}[openai,instrument]")
    code = (
        "from importlib.metadata import entry_points\n"
        "from opentelemetry.instrumentation.instrumentor import BaseInstrumentor\n"
        "for ep in entry_points(group='opentelemetry_instrumentor', name='runwatch'):\n"
        "    assert issubclass(ep.load(), BaseInstrumentor), ep\n"
        "    print(ep.value)\n"
    )
    done = env.run("python", "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [value for _, name, value in points if name == "runwatch"]


# ----------------------------------------------------------- every Python the classifiers name
def classified_pythons() -> list[str]:
    return [
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]


def find_python(version: str) -> Path | None:
    """An interpreter of ``version`` that runs (a pyenv shim on PATH may not)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return Path(sys.executable)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True)
    candidates += [Path(p) for p in [shutil.which(f"python{version}")] if p]
    for candidate in candidates:
        done = subprocess.run(
            [str(candidate), "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
            env=user_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


@pytest.mark.parametrize("version", classified_pythons())
def test_runs_on_each_classified_python(
    dists: Dists, tmp_path: Path, version: str, request: pytest.FixtureRequest
) -> None:
    """The wheel installs with ``[openai]`` and its demo runs on every Python version the
    classifiers claim. A version with no interpreter on this machine is reported as skipped (by
    name), never counted as passing."""
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine: its classifier is unproven here")
    if python == Path(sys.executable):
        env: Venv = request.getfixturevalue("with_openai")
    else:
        env = make_venv(tmp_path / "venv", python)
        env.pip(f"{dists.wheel}[openai]")
    done = env.run("python", "-c", "import sys; print(sys.version_info[:2])", cwd=tmp_path)
    assert done.stdout.strip() == str(tuple(int(p) for p in version.split("."))), done.stderr
    assert env.run("runwatch", "--version", cwd=tmp_path).stdout == f"runwatch {runwatch.__version__}\n"
    demo_summary(env, tmp_path)
