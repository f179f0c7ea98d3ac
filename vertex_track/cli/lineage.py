"""``lineage NAME``: where an artifact came from and where it went, as a tree or a graph."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import Any, Optional

import typer

from ..runs.summary import inline_value, metadata_vt, user_metadata
from ._common import (
    CliNotFound,
    candidate_names,
    check_store,
    handle_errors,
    id_prefix_matches,
    newest_of_schema,
    quote,
    suggestions,
)
from ._output import (
    ID_WIDTH,
    fmt_duration,
    fmt_value,
    id_width,
    is_rich,
    print_json,
    short_id,
    stderr,
)


class Direction(str, Enum):
    up = "up"
    down = "down"
    both = "both"
    upstream = "upstream"  # the library's words (vt.lineage(direction=...)) work too
    downstream = "downstream"


class Format(str, Enum):
    tree = "tree"
    json = "json"
    mermaid = "mermaid"
    dot = "dot"


_DIRECTIONS: dict[str, Any] = {
    "up": "upstream", "down": "downstream", "both": "both",
    "upstream": "upstream", "downstream": "downstream",
}


def resolve_node(ref: str) -> Any:
    """An Artifact or Execution by full name, resource id or display name (artifacts first)."""
    from ..exceptions import InvalidArgumentError, NotFoundError
    from ..resources import Artifact, Context, Execution

    classes = (Artifact, Execution)
    ref = ref.strip().rstrip("…")  # a shortened id copied from a table
    if "/" in ref:
        for cls in classes:
            if f"/{cls.kind}/" in ref:
                return cls.get(ref)
    for cls in classes:
        try:
            return cls.get(ref)
        except (NotFoundError, InvalidArgumentError):
            pass
    for cls in classes:
        hits = cls.list(f"display_name = {quote(ref)}", "create_time desc", page_size=3)
        if hits:
            if len(hits) > 1:
                more = "+" if hits.next_page_token else ""
                stderr(
                    f"note: {len(hits)}{more} {cls.kind} are named {ref!r}; using the newest, "
                    f"{hits[0].resource_id} (pass an id to choose another)"
                )
            return hits[0]
    run = _run_named(ref)
    if run is not None:
        return run
    by_schema = newest_of_schema(Artifact, ref)
    if by_schema is not None:
        return by_schema
    by_prefix = [r for cls in classes for r in id_prefix_matches(cls, ref)]
    if len(by_prefix) == 1:
        return by_prefix[0]
    if by_prefix:
        raise CliNotFound(
            f"{ref!r} is the start of several ids ("
            + ", ".join(r.resource_id for r in by_prefix[:3]) + ", ...); give more of the id"
        )
    from .runs import RUN_FILTER

    pool = candidate_names(Artifact, None, ref) + candidate_names(Execution, None, ref)
    pool += candidate_names(Context, RUN_FILTER, ref)
    close = suggestions(ref, pool)
    hint = ("; did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""
    raise CliNotFound(f"no artifact, execution or pipeline run named {ref!r}{hint}")


def _run_named(ref: str) -> Any:
    """The pipeline run (its Context) named ``ref`` exactly (flow run name or id), else None."""
    from ..exceptions import NotFoundError
    from .runs import resolve_run_exactly

    try:
        return resolve_run_exactly(ref)
    except NotFoundError:
        return None


# -- the tree ------------------------------------------------------------------------------


class _Graph:
    """Adjacency of a LineageSubgraph, both ways, with event labels."""

    def __init__(self, graph: Any) -> None:
        self.nodes: dict[str, Any] = {a.name: a for a in graph.artifacts}
        self.nodes.update({e.name: e for e in graph.executions})
        self.up: dict[str, list[tuple[str, str | None]]] = {}
        self.down: dict[str, list[tuple[str, str | None]]] = {}
        for ev in graph.events:
            if ev.artifact not in self.nodes or ev.execution not in self.nodes:
                continue
            label = ev.labels.get("name")
            if str(ev.type) == "INPUT":  # artifact -> execution
                src, dst = ev.artifact, ev.execution
            else:  # execution -> artifact
                src, dst = ev.execution, ev.artifact
            _add(self.up, dst, (src, label))
            _add(self.down, src, (dst, label))


def _add(index: dict[str, list[tuple[str, str | None]]], key: str,
         item: tuple[str, str | None]) -> None:
    items = index.setdefault(key, [])
    if item not in items:
        items.append(item)


def _is_artifact(r: Any) -> bool:
    return r.kind == "artifacts"


def node_text(
    r: Any, label: str | None, arrow: str, id_chars: int = ID_WIDTH, repeated: bool = False
) -> list[tuple[str, str]]:
    """One tree line as (text, style) segments (a node met again: its name only)."""
    segs: list[tuple[str, str]] = []
    if _is_artifact(r):
        if label:
            segs.append((f"{label}: ", "dim"))
        kind = r.schema_title.split(".", 1)[-1]
        segs.append((f"{kind} ", "magenta"))
        segs.append((r.display_name or r.resource_id, "bold"))
        if repeated:
            segs.append(("  (shown above)", "dim italic"))
            return segs
        has_value, value = inline_value(r)
        if has_value:
            segs.append((f" = {fmt_value(value, 40)}", "green"))
        segs.append((f"  ({r.schema_title}, {short_id(r.resource_id, id_chars)})", "dim"))
    else:
        if arrow:
            segs.append((f"{arrow} ", "bold blue"))
        vt = metadata_vt(r)
        segs.append((vt.get("task_name") or r.display_name or r.resource_id, "bold blue"))
        state = str(r.state)
        style = {"COMPLETE": "green", "FAILED": "bold red"}.get(state, "yellow")
        segs.append((f" [{state}]", style))
        if repeated:
            segs.append(("  (shown above)", "dim italic"))
            return segs
        duration = fmt_duration(vt.get("duration_s"))
        if duration:
            segs.append((f" {duration}", "dim"))
        params = {
            k: v for k, v in user_metadata(r).items()
            if v is None or isinstance(v, (str, int, float, bool))
        }
        if params:
            text = ", ".join(f"{k}={fmt_value(v, 16)}" for k, v in params.items())
            segs.append((f"  {text}", "cyan"))
        if label and label != "output":
            segs.append((f"  as {label}", "dim"))
        segs.append((f"  ({short_id(r.resource_id, id_chars)})", "dim"))
    return segs


class _TreeNode:
    def __init__(self, segs: list[tuple[str, str]]) -> None:
        self.segs = segs
        self.children: list[_TreeNode] = []


def build_tree(graph: Any, start: Any, direction: str) -> _TreeNode:
    """Walk the subgraph from ``start`` one way; a node met twice is shown once."""
    g = _Graph(graph)
    index = g.up if direction == "upstream" else g.down
    arrow = "←" if direction == "upstream" else "→"
    chars = id_width(r.resource_id for r in g.nodes.values())
    root = _TreeNode(node_text(start, None, "", chars))
    seen = {start.name}

    def walk(name: str, parent: _TreeNode) -> None:
        for other, label in index.get(name, []):
            r = g.nodes[other]
            # An artifact line carries the slot it fills in the execution next
            # to it ("data: Dataset train"); an execution line the slot the
            # artifact next to it fills there ("-> train as data").
            repeated = other in seen
            child = _TreeNode(node_text(r, label, arrow, chars, repeated))
            parent.children.append(child)
            if repeated:
                continue
            seen.add(other)
            walk(other, child)

    walk(start.name, root)
    return root


def build_run_tree(graph: Any, run: Any) -> _TreeNode:
    """A pipeline run's whole DAG as a tree: its tasks in start order, each with its inputs
    (<-) and outputs (->). Every task and artifact is drawn once in full; an artifact
    met again is named with the task that made it."""
    from .runs import run_summary

    s = run_summary(run)
    g = _Graph(graph)
    chars = id_width(r.resource_id for r in g.nodes.values())
    head = [(f"Pipeline run {s['display_name'] or s['resource_id']}", "bold")]
    facts = [x for x in (s["flow_name"], s["state"], fmt_duration(s["duration_s"])) if x]
    if facts:
        head.append((f"  ({', '.join(facts)})", "dim"))
    root = _TreeNode(head)

    def started(e: Any) -> tuple[str, str, str]:
        return (str(metadata_vt(e).get("start_time") or ""), e.create_time.isoformat(), e.name)

    producer: dict[str, str] = {}
    for ev in graph.events:
        if str(ev.type) == "OUTPUT" and ev.execution in g.nodes:
            producer.setdefault(ev.artifact, ev.execution)
    shown: set[str] = set()

    def task_name(e: Any) -> str:
        return metadata_vt(e).get("task_name") or e.display_name or e.resource_id

    for e in sorted(graph.executions, key=started):
        task = _TreeNode(node_text(e, None, "", chars))
        root.children.append(task)
        outputs = sorted(g.down.get(e.name, []), key=lambda x: x[1] or "")
        for edges, arrow in ((g.up.get(e.name, []), "←"), (outputs, "→")):
            for name, label in edges:
                a = g.nodes[name]
                segs = [(f"{arrow} ", "bold blue")]
                if name in shown:
                    segs += node_text(a, label, "", chars, repeated=True)[:-1]
                    made_by = producer.get(name)
                    note = f"  (from {task_name(g.nodes[made_by])})" if made_by and arrow == "←" \
                        else "  (shown above)"
                    segs.append((note, "dim italic"))
                else:
                    segs += node_text(a, label, "", chars)
                    shown.add(name)
                task.children.append(_TreeNode(segs))
    return root


def render_plain(root: _TreeNode, write: Callable[[str], Any]) -> None:
    write("".join(t for t, _ in root.segs) + "\n")

    def rec(node: _TreeNode, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            write(prefix + ("└── " if last else "├── ") + "".join(t for t, _ in child.segs) + "\n")
            rec(child, prefix + ("    " if last else "│   "))

    rec(root, "")


def render_rich(root: _TreeNode) -> None:
    from rich.text import Text
    from rich.tree import Tree

    from ._output import console

    def text(node: _TreeNode) -> Text:
        # One line per node: a long one is cut at the screen's edge, not wrapped.
        t = Text(no_wrap=True, overflow="ellipsis")
        for s, style in node.segs:
            t.append(s, style=style)
        return t

    tree = Tree(text(root), guide_style="dim")

    def rec(node: _TreeNode, branch: Any) -> None:
        for child in node.children:
            rec(child, branch.add(text(child)))

    rec(root, tree)
    console().print(tree)


@handle_errors
def lineage(
    name: str = typer.Argument(
        ..., help="An artifact or execution: resource id, full name or display name."
    ),
    direction: Direction = typer.Option(
        Direction.up, "--direction", "-d",
        help="up: what it was made from; down: what was made from it; both.",
    ),
    max_hops: Optional[int] = typer.Option(
        None, "--max-hops", min=0, help="Follow at most this many event edges (default: all).",
    ),
    filter: Optional[str] = typer.Option(
        None, "--filter", "-f", help="Only artifacts matching this filter (the walk goes through all).",
    ),
    format: Format = typer.Option(
        Format.tree, "--format", help="tree (readable), json, mermaid or dot (Graphviz).",
    ),
    json_mode: bool = typer.Option(False, "--json", help="Same as --format json."),
    run: Optional[str] = typer.Option(
        None, "--run", "-r", metavar="RUN",
        help="Only this pipeline run's tasks (flow run name or id): an artifact other runs "
        "made too (same content) then shows this run's producer and consumers only.",
    ),
) -> None:
    """Show the lineage of an artifact, an execution or a whole pipeline run.

    For an artifact or execution, the tree walks upstream by default: the
    model, the task that produced it, that task's inputs, the tasks that
    produced those, and so on. For a pipeline run (its flow run name or id),
    it draws the run's whole DAG: each task once, with what it used and made.

    Example:

    $ vertex-track lineage model --format tree
    $ vertex-track lineage model --run crimson-fox
    $ vertex-track lineage crimson-fox
    $ vertex-track lineage model --direction both --format mermaid > lineage.mmd
    """
    check_store()
    from ..lineage import lineage as vt_lineage
    from ..lineage import query_context_lineage_subgraph

    node = resolve_node(name)
    fmt = Format.json if json_mode else format
    if node.kind == "contexts":
        if run is not None:
            raise _usage(f"{name!r} is a pipeline run; --run scopes an artifact or execution")
        graph = query_context_lineage_subgraph(node)
        _print_graph(graph, fmt)
        if fmt is Format.tree:
            root = build_run_tree(graph, node)
            render_rich(root) if is_rich() else render_plain(root, sys.stdout.write)
            if not root.children:
                stderr("(no tracked tasks in this run)")
        return
    scope = None
    if run is not None:
        from .runs import resolve_run

        scope = resolve_run(run)
    graph = vt_lineage(node, direction=_DIRECTIONS[direction.value], max_hops=max_hops,
                       filter=filter, context=scope)
    if fmt is not Format.tree:
        _print_graph(graph, fmt)
        return
    walks = ["upstream", "downstream"] if direction is Direction.both else [
        _DIRECTIONS[direction.value]]
    for i, d in enumerate(walks):
        root = build_tree(graph, node, d)
        if len(walks) > 1:
            heading = f"{'Upstream (made from)' if d == 'upstream' else 'Downstream (used by)'}"
            if is_rich():
                from ._output import console

                console().print(f"{'' if i == 0 else chr(10)}[bold underline]{heading}[/]")
            else:
                sys.stdout.write(f"{'' if i == 0 else chr(10)}# {heading}\n")
        if is_rich():
            render_rich(root)
        else:
            render_plain(root, sys.stdout.write)
        if not root.children:
            what = "nothing upstream: not produced by a tracked execution" if d == "upstream" \
                else "nothing downstream: no tracked execution consumed it"
            stderr(f"({what})")


def _print_graph(graph: Any, fmt: Format) -> None:
    if fmt is Format.json:
        print_json(graph.to_dict())
    elif fmt is Format.mermaid:
        sys.stdout.write(graph.to_mermaid())
    elif fmt is Format.dot:
        sys.stdout.write(graph.to_dot())


def _usage(message: str) -> Exception:
    from ..exceptions import InvalidArgumentError

    return InvalidArgumentError(message)
