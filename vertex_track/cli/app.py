"""The ``vertex-track`` Typer application: global options and the command tree.

Importing this module imports Typer and the command modules, which import
nothing heavy at module level: the metadata store (SQLAlchemy), lineage,
experiments and the artifact store are imported inside the commands that
need them, and ``rich`` only when something is rendered for a terminal.
Nothing here imports Prefect.
"""

from __future__ import annotations

from typing import Optional

import typer

from ._common import init_settings
from .cache import cache_app
from .diff import diff
from .doctor import doctor
from .experiments import experiments_app
from .gc import gc
from .lineage import lineage
from .openlineage import export_app
from .pipelines import pipelines_app
from .purge import purge_app
from .resources import artifacts_app, contexts_app, executions_app
from .runs import runs_app
from .serve import serve
from .sync import sync
from .ui import ui

HELP = """Inspect what vertex_track recorded: pipeline runs, artifacts, executions, lineage.

Reads the same metadata store as the library: --store-uri, else
VERTEX_TRACK_STORE_URI, else the SQLite file under VERTEX_TRACK_HOME
(~/.vertex_track/metadata.db). Output is a table on a terminal, tab-separated
text when piped, and JSON with --json.

Exit codes: 0 ok, 1 not found, 2 usage error or bad filter, 3 store unavailable
(or not a vertex_track store), 4 other failure, 5 doctor found problems.

Example:

$ vertex-track runs list
$ vertex-track lineage model --format tree
$ vertex-track diff crimson-fox lucky-owl
"""

app = typer.Typer(
    name="vertex-track",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"vertex-track {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    store_uri: Optional[str] = typer.Option(
        None, "--store-uri", metavar="URI",
        help="Metadata store, e.g. sqlite:///path/metadata.db or postgresql://user@host/db "
        "(default: $VERTEX_TRACK_STORE_URI, else ~/.vertex_track/metadata.db).",
    ),
    artifact_root: Optional[str] = typer.Option(
        None, "--artifact-root", metavar="URL",
        help="Where artifact files are (folder or fsspec URL; used by gc) "
        "(default: $VERTEX_TRACK_ARTIFACT_ROOT, else ~/.vertex_track/artifacts).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit.",
    ),
) -> None:
    init_settings(store_uri, artifact_root)


app.add_typer(runs_app, name="runs")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(executions_app, name="executions")
app.add_typer(contexts_app, name="contexts")
app.command("lineage")(lineage)
app.command("diff")(diff)
app.add_typer(experiments_app, name="experiments")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(purge_app, name="purge")
app.add_typer(cache_app, name="cache")
app.command("gc")(gc)
app.command("doctor")(doctor)
app.command("sync")(sync)
app.command("ui")(ui)
app.command("serve")(serve)
app.add_typer(export_app, name="export")


def run() -> None:
    app()
