"""``export openlineage``: stored pipeline runs as OpenLineage run events.

Each PipelineRun and each of its executions gives a START and an end event
(docs/openlineage.md), the same events the live emitter sends, with the
same run ids and event times: exporting twice prints identical lines.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from ._common import EXIT_FAILED, EXIT_USAGE, check_store, fail, handle_errors

export_app = typer.Typer(
    help="Export what was recorded in other formats (OpenLineage run events).\n\n"
    "$ vertex-track export openlineage --output events.jsonl",
    no_args_is_help=True,
)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since must be an ISO 8601 date or time (e.g. 2026-01-31 or "
             f"2026-01-31T12:00:00+00:00), got {value!r}", EXIT_USAGE)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


@export_app.command("openlineage")
@handle_errors
def openlineage(
    filter: Optional[str] = typer.Option(
        None, "--filter", metavar="FILTER",
        help='Only pipeline runs matching this filter, e.g. \'metadata.flow_name.string_value = "etl"\'.',
    ),
    since: Optional[str] = typer.Option(
        None, "--since", metavar="TIME", help="Only pipeline runs created at or after TIME (ISO 8601).",
    ),
    run: Optional[str] = typer.Option(
        None, "--run", metavar="RUN", help="Only this pipeline run (flow run id or name).",
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write JSON lines to FILE instead of stdout.",
    ),
    transport: bool = typer.Option(
        False, "--transport",
        help="Send the events through the configured OpenLineage client (openlineage.yml, "
        "OPENLINEAGE_URL, OPENLINEAGE__TRANSPORT__...) instead of printing them.",
    ),
    spooled: bool = typer.Option(
        False, "--spooled",
        help="Send the events a tracked run could not send (the OpenLineage spool) through "
        "the configured client; nothing else.",
    ),
    namespace: Optional[str] = typer.Option(
        None, "--namespace", metavar="NS",
        help="Job namespace (default: $VERTEX_TRACK_OPENLINEAGE_NAMESPACE, else vertex_track).",
    ),
) -> None:
    """Export recorded pipeline runs as OpenLineage RunEvents (one JSON object per line).

    Idempotent: run ids are derived from the records and event times are the
    recorded start and end times, so a consumer that already has the events
    (from the live emitter or an earlier export) gets the same ones again.

    $ vertex-track export openlineage --since 2026-01-01 > events.jsonl
    $ OPENLINEAGE_URL=http://localhost:5000 vertex-track export openlineage --transport
    """
    from ..config import get_settings
    from ..openlineage import spool as ol_spool
    from ..openlineage import transport as ol_transport

    if output is not None and (transport or spooled):
        fail("--output writes a file; --transport and --spooled send events: pick one", EXIT_USAGE)
    if spooled:
        sender = ol_transport.make_sender()
        try:
            count = ol_spool.resend(sender)
        except Exception as exc:
            fail(f"the OpenLineage transport failed ({exc}); the events stay in "
                 f"{ol_spool.spool_dir()}", EXIT_FAILED)
        typer.echo(f"sent {count} spooled OpenLineage events")
        return
    check_store()
    from ..openlineage.replay import export_events, run_events

    ns = namespace or get_settings().openlineage_namespace
    if run is not None:
        from ..tracking.pipeline_run import PipelineRun

        events: Any = run_events(PipelineRun.get(run).context, ns)
    else:
        events = export_events(ns, filter=filter, since=_since(since))
    if transport:
        sender = ol_transport.make_sender()
        batch = list(events)
        sender.send_many(batch)
        typer.echo(f"sent {len(batch)} OpenLineage events")
        return
    if output is None:
        for event in events:
            sys.stdout.write(ol_spool.to_json(event) + "\n")
        return
    with open(output, "w", encoding="utf-8") as out:
        for event in events:
            out.write(ol_spool.to_json(event) + "\n")
