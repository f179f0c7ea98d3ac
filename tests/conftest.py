"""Shared fixtures.

``store`` is the conformance fixture: every test that takes it runs once on an
SQLite file and once on PostgreSQL (each test in its own schema). PostgreSQL
runs when ``VERTEX_TRACK_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it) and
is skipped with the reason otherwise.
"""

from __future__ import annotations

import os

# The GCS tests talk to a local emulator only. gcsfs's experimental bucket-type
# lookup calls Google's gRPC control plane, and google-auth probes the GCE
# metadata server when no credentials are set: both would leave this machine.
# Set before anything imports gcsfs or google-auth (each reads these at import).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
os.environ.setdefault("NO_GCE_CHECK", "true")

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from vertex_track import config
from vertex_track.store import get_store
from vertex_track.store.base import MetadataStore

POSTGRES_URL = os.environ.get("VERTEX_TRACK_TEST_POSTGRES_URL")
NO_POSTGRES = (
    "PostgreSQL tests need VERTEX_TRACK_TEST_POSTGRES_URL "
    "(e.g. postgresql://postgres@127.0.0.1:5432/test); .ci/run sets it"
)

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES_URL:
        return f"vertex_track store backends: sqlite, postgresql ({POSTGRES_URL})"
    return f"vertex_track store backends: sqlite only ({NO_POSTGRES})"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own VERTEX_TRACK_HOME and forgets earlier vt.init calls."""
    home = tmp_path / "vt_home"
    monkeypatch.setenv("VERTEX_TRACK_HOME", str(home))
    for var in (
        "VERTEX_TRACK_STORE_URI", "VERTEX_TRACK_ARTIFACT_ROOT", "VERTEX_TRACK_PROJECT",
        "VERTEX_TRACK_LOCATION", "VERTEX_TRACK_METADATA_STORE", "VERTEX_TRACK_EXPERIMENT",
        "VERTEX_TRACK_ON_TRACKING_ERROR",
    ):
        monkeypatch.delenv(var, raising=False)
    config.reset()
    # A test that would write to the developer's real ~/.vertex_track is a bug.
    assert config.get_settings().store_uri == f"sqlite:///{home / 'metadata.db'}"
    yield
    config.reset()


def postgres_schema_url(base_url: str, schema: str) -> str:
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    import psycopg

    schema = f"vt_test_{uuid.uuid4().hex[:12]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = postgres_schema_url(POSTGRES_URL, schema)
    try:
        yield url
    finally:
        from vertex_track.store.sql.store import dispose_engine

        dispose_engine(url)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_uri: str, tmp_path: Path) -> MetadataStore:
    """The metadata store under test, also made the default (``vt.init``)."""
    config.init(store_uri=store_uri, artifact_root=str(tmp_path / "artifacts"))
    return get_store()


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect API + database per test session (per xdist worker)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect_home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def tracked(prefect_harness: None, tmp_path: Path) -> Iterator[MetadataStore]:
    """A fresh SQLite store and artifact folder for a tracking test, under Prefect's harness."""
    config.init(
        store_uri=f"sqlite:///{tmp_path / 'metadata.db'}",
        artifact_root=str(tmp_path / "artifacts"),
    )
    yield get_store()
    from vertex_track.tracking import flush

    flush()


ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# -- the store `make demo` leaves (test_examples, test_readme) --------------------------


def run_python(
    args: list[str], *, env: dict[str, str], stdout: Path, stderr: Path | None = None,
    cwd: Path | None = None, timeout: float = 300,
) -> int:
    """Run ``python ARGS`` in its own process group; output to files; returns the exit code.

    Files, not pipes: Prefect's temporary API server (a child of the script)
    can outlive it and would hold pipes open. The whole group is killed
    afterwards, so no server is left behind.
    """
    with stdout.open("w") as out, (stderr or stdout).open("a") as err:
        proc = subprocess.Popen(
            [sys.executable, *args], stdout=out,
            stderr=err if stderr is not None else subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _run_example(name: str, env: dict[str, str], log: Path, *args: str) -> None:
    code = run_python([str(ROOT / "examples" / name), *args], env=env, stdout=log, cwd=ROOT,
                      timeout=400)
    assert code == 0, log.read_text()[-3000:]


@dataclass
class DemoStore:
    env: dict[str, str]
    runs: tuple[str, str]  # the two quickstart runs' names, newest first
    experiment: str  # the experiments example's experiment
    outputs: dict[str, str]  # example -> what it printed

    @property
    def home(self) -> Path:
        return Path(self.env["VERTEX_TRACK_HOME"])


def demo_env(base: Path) -> dict[str, str]:
    """The environment of a process that uses the store under ``base/home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VERTEX_TRACK_", "FORCE_COLOR", "NO_COLOR"))}
    env.update(
        VERTEX_TRACK_HOME=str(base / "home"), PREFECT_HOME=str(base / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}", COLUMNS="100",
    )
    return env


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """The store `make demo` leaves: both examples run once (per test worker) into a
    temporary home. Tests that use it share the ``demo_store`` xdist group."""
    base = tmp_path_factory.mktemp("demo_store")
    env = demo_env(base)
    outputs = {}
    for example in ("quickstart.py", "experiments.py"):
        _run_example(example, env, base / f"{example}.log")
        outputs[example] = (base / f"{example}.log").read_text()
    runs = subprocess.run([str(BIN / "vertex-track"), "runs", "list"], env=env,
                          capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    newest, older = (r.split("\t")[0] for r in runs[:2])
    experiment = subprocess.run(
        [str(BIN / "vertex-track"), "experiments", "list"], env=env, capture_output=True,
        text=True, check=True).stdout.splitlines()[1].split("\t")[0]
    return DemoStore(env, (newest, older), experiment, outputs)


# -- object stores over their real protocols (tests/object_stores.py) -------------------


@pytest.fixture(scope="session")
def s3_bucket() -> Iterator[object]:
    """A bucket on moto's S3 server on 127.0.0.1 (one server per test session)."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    from object_stores import moto_s3

    with moto_s3() as bucket:
        yield bucket


@pytest.fixture(scope="session")
def gcs_bucket() -> Iterator[object]:
    """A bucket on gcp-storage-emulator on 127.0.0.1 (one server per test session)."""
    pytest.importorskip("gcsfs")
    pytest.importorskip("gcp_storage_emulator")
    from object_stores import gcs_emulator

    with gcs_emulator() as bucket:
        yield bucket
