"""``sync``: write the tracking records kept in the local spool to their metadata store.

While a metadata store is unavailable, tracked runs keep their records in
``$VERTEX_TRACK_HOME/spool/`` (see docs/reliability.md). A process replays its
own spool when the store is back; records of processes that ended before
that wait for this command. Replaying is idempotent: running it twice, or
while the process that spooled the records replays them too, never records
anything twice.
"""

from __future__ import annotations

from typing import Any

import typer

from ._common import EXIT_STORE_UNAVAILABLE, fail, handle_errors
from ._output import print_json


def _parse_prefix(prefix: str) -> tuple[str, str, str] | None:
    parts = prefix.split("/")
    if len(parts) == 6 and parts[0::2] == ["projects", "locations", "metadataStores"]:
        return parts[1], parts[3], parts[5]
    return None


@handle_errors
def sync(
    all_stores: bool = typer.Option(
        False, "--all",
        help="Also replay records of other stores, opened by the URI the spool names "
        "(a password is never stored there: such stores need --store-uri).",
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write spooled tracking records to the metadata store (after an outage).

    Replays every file in $VERTEX_TRACK_HOME/spool/ whose records belong to
    the store of --store-uri (or VERTEX_TRACK_STORE_URI), in the order they
    were made, and removes each file once all of it is written. Safe to run
    any time, and more than once.

    Exit codes: 0 everything for this store written, 3 the store is still
    unavailable (the records stay in the spool).

    $ vertex-track sync
    """
    from ..store import get_store, open_store
    from ..tracking import spool

    store = get_store()
    mine = spool.store_key(store)
    others: dict[tuple[str, str], int] = {}

    def resolve(line: dict[str, Any]) -> Any:
        key = (str(line.get("uri")), str(line.get("prefix")))
        if key == mine:
            return store
        if all_stores:
            parsed = _parse_prefix(str(line.get("prefix")))
            if parsed is not None:
                try:
                    return open_store(
                        str(line["uri"]), project=parsed[0], location=parsed[1],
                        metadata_store=parsed[2],
                    )
                except Exception:  # unavailable or not ours to open: left in the spool
                    pass
        others[key] = others.get(key, 0) + 1
        return None

    result = spool.replay_all(resolve)
    data = {
        "store": mine[0],
        "spool": str(spool.spool_dir()),
        "records_written": result.records,
        "lines_written": result.entries,
        "lines_left": result.left,
        "files_done": len(result.files),
        "other_stores": [{"uri": k[0], "prefix": k[1], "lines": n} for k, n in others.items()],
        "errors": result.errors,
    }
    if json_mode:
        print_json(data)
    else:
        typer.echo(
            f"wrote {result.records} spooled tracking records ({result.entries} spool lines) "
            f"to {mine[0]}; {len(result.files)} spool files done, {result.left} lines left"
        )
        for (uri, prefix), n in others.items():
            typer.echo(f"  {n} lines belong to another store: {uri} ({prefix}); "
                       "replay them with --store-uri or --all")
        for error in result.errors:
            typer.echo(f"  not written: {error}", err=True)
    if result.left - sum(others.values()) > 0:
        fail(
            f"{result.left - sum(others.values())} spool lines could not be written yet; "
            "run `vertex-track sync` again when the store is reachable",
            EXIT_STORE_UNAVAILABLE,
        )
