"""Result caching of tracked tasks, keyed on content and recorded in the lineage.

A call of a task tracked with ``cache=True`` is keyed on three components:

* its code: the SHA-256 of ``ast.dump`` of the function's parsed source with
  decorators and docstring left out, so a comment, a blank line or a changed
  decorator option does not count (or the ``version`` given instead);
* its parameters (scalar arguments), as canonical JSON;
* the content digests of its other arguments
  (:func:`vertex_track.artifacts.digest.content_digest`).

The key and its components are stored in the Execution's metadata
(``metadata.vertex_track.cache``), so a later run can say which component
changed. Before the function runs, the newest ``COMPLETE`` execution with the
same key is looked up through the store's public listing (any process sharing
the store sees it); its outputs are verified (still recorded, stored bytes
present with their recorded size, and with ``verify="digest"`` re-hashed) and
loaded, without re-hashing them under ``verify="exists"``. Then the function
is not called: a ``CACHED`` Execution is recorded whose OUTPUT events point
at the original Artifacts (nothing copied) and whose metadata names the reused
execution. Anything short of that is a miss whose reason is recorded.

Two processes missing on the same key at once both run the task and both
record a result; later lookups take the newer one. Values a cached task
returns (or a hit loads) are remembered by identity with their content digest,
so the next task's key does not hash them again: like vertex_track's lineage
by identity, this assumes a value handed from task to task is not modified in
place in between.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import hashlib
import inspect
import textwrap
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._json import canonical
from ..artifacts.cache import frozen_fingerprint
from ..artifacts.digest import content_digest
from ..exceptions import InvalidArgumentError
from .cache_lookup import find_reusable
from .frames import drop_own_frame
from .values import is_parameter, parameter_value

VERIFY_MODES = ("exists", "digest")


@dataclass(frozen=True)
class CacheOptions:
    """How a cached task reuses results (see :func:`cache_options`)."""

    expiration: dt.timedelta | None = None
    refresh: bool = False
    verify: str = "exists"
    version: str | None = None


def cache_options(
    *,
    cache_expiration: dt.timedelta | None = None,
    refresh_cache: bool = False,
    verify: str = "exists",
    version: str | None = None,
) -> CacheOptions:
    """Validated cache options.

    Raises:
        InvalidArgumentError: ``verify`` is not ``"exists"`` or ``"digest"``,
            ``cache_expiration`` is not a positive timedelta, ``refresh_cache``
            is not a bool, or ``version`` is not a non-empty string.
    """
    if verify not in VERIFY_MODES:
        raise InvalidArgumentError(
            f"verify must be 'exists' (the stored output is still there) or 'digest' "
            f"(its bytes are re-hashed), got {verify!r}"
        )
    if cache_expiration is not None:
        if not isinstance(cache_expiration, dt.timedelta):
            raise InvalidArgumentError(
                "cache_expiration must be a datetime.timedelta, got "
                f"{type(cache_expiration).__name__}"
            )
        if cache_expiration <= dt.timedelta(0):
            raise InvalidArgumentError(
                f"cache_expiration must be positive, got {cache_expiration}; leave it out "
                "to keep results without a time limit"
            )
    if not isinstance(refresh_cache, bool):
        raise InvalidArgumentError(f"refresh_cache must be True or False, got {refresh_cache!r}")
    if version is not None and (not isinstance(version, str) or not version):
        raise InvalidArgumentError(f"version must be a non-empty string, got {version!r}")
    return CacheOptions(cache_expiration, refresh_cache, verify, version)


# -- the code component --------------------------------------------------------------


def code_hash(fn: Any) -> str:
    """SHA-256 of the function's code, blind to comments, blank lines, decorators, docstring.

    From the parsed source when it can be read; otherwise from the compiled
    code (instructions, names and constants, without line numbers).
    """
    fn = inspect.unwrap(fn)
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        node = ast.parse(source).body[0]
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            raise TypeError("not a function definition")
        node.decorator_list = []
        first = node.body[0] if len(node.body) > 1 else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
            first.value.value, str
        ):
            node.body = node.body[1:]
        text = "ast:" + ast.dump(node)
    except (OSError, TypeError, SyntaxError, IndexError):
        code = getattr(fn, "__code__", None)
        if code is None:
            raise InvalidArgumentError(
                f"cannot read the code of {fn!r} to key its cache; pass version='...'"
            ) from None
        text = "code:" + _code_text(code)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _code_text(code: Any) -> str:
    consts = [_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return repr((code.co_code.hex(), code.co_names, code.co_varnames, consts))


# -- digests remembered by identity ---------------------------------------------------


class _KnownDigests:
    """``id(value) -> content digest`` of values cached tasks returned or loaded.

    Weak references where the type allows them (arrays, frames), otherwise a
    strong one; at most ``maxsize`` entries (least recently used dropped).
    """

    def __init__(self, maxsize: int = 256) -> None:
        self._items: OrderedDict[int, tuple[Any, str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.maxsize = maxsize

    def get(self, value: Any) -> str | None:
        with self._lock:
            hit = self._items.get(id(value))
            if hit is None:
                return None
            ref, digest, fingerprint = hit
            target = ref() if isinstance(ref, weakref.ref) else ref
            if target is not value:
                return None
            if fingerprint is not None and frozen_fingerprint(value) != fingerprint:
                del self._items[id(value)]  # made writable (or re-pointed) since
                return None
            self._items.move_to_end(id(value))
            return digest

    def add(self, value: Any, digest: str, fingerprint: Any = None) -> None:
        """Remember ``value``'s digest; with a ``fingerprint`` (a frozen value's, see
        :func:`~vertex_track.artifacts.cache.frozen_fingerprint`) it is checked on use."""
        if is_parameter(value):
            return
        try:
            ref: Any = weakref.ref(value)
        except TypeError:
            ref = value
        with self._lock:
            self._items[id(value)] = (ref, digest, fingerprint)
            self._items.move_to_end(id(value))
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


known_digests = _KnownDigests()


# -- one task's cache ----------------------------------------------------------------


@dataclass
class Lookup:
    """The outcome of consulting the cache for one call."""

    meta: dict[str, Any]
    hit: bool = False
    outputs: list[tuple[str, str, Any]] = field(default_factory=list)


def output_items(result: Any) -> tuple[str, list[tuple[str, Any]]]:
    """``(shape, [(label, value)])`` of a return value, labelled as tracking records it."""
    if result is None:
        return "none", []
    if isinstance(result, tuple):
        return "tuple", [(f"output.{i}", v) for i, v in enumerate(result)]
    if type(result) is dict and all(isinstance(k, str) for k in result):
        return "dict", list(result.items())
    return "single", [("output", result)]


def _rebuild(shape: str, values: list[tuple[str, Any]]) -> Any:
    if shape == "none":
        return None
    if shape == "tuple":
        return tuple(v for _label, v in values)
    if shape == "dict":
        return dict(values)
    return values[0][1]


class TaskCache:
    """The cache of one tracked function: its code component and the lookups."""

    def __init__(self, fn: Any, tracker: Any, options: CacheOptions) -> None:
        if tracker.is_generator:
            raise InvalidArgumentError(
                f"cache=True does not apply to the generator {tracker.name!r}: its items "
                "are consumed while it runs; return a list instead"
            )
        self.options = options
        self.tracker = tracker
        self.code = (
            f"version:{options.version}" if options.version is not None else code_hash(fn)
        )
        self.task = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', fn)}"

    def components(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The key's components of one call and the key itself."""
        params: dict[str, Any] = {}
        inputs: dict[str, str] = {}
        ignore = self.tracker.options.ignore
        for label, value in self.tracker._bind(args, kwargs):
            if label in ignore:
                continue
            if is_parameter(value):
                params[label] = parameter_value(value)
                continue
            digest = known_digests.get(value)
            if digest is None:
                digest = content_digest(value, known_digests.get)
                fingerprint = frozen_fingerprint(value)
                if fingerprint is not None:  # a read-only array: hashed once, not per run
                    known_digests.add(value, digest, fingerprint)
            inputs[label] = digest
        body = {"code": self.code, "params": params, "inputs": inputs}
        key = "sha256:" + hashlib.sha256(canonical(body).encode()).hexdigest()
        return {"key": key, "task": self.task, **body}

    def consult(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Lookup:
        """Look the call up; on a verified hit, the loaded values. Never raises."""
        try:
            meta = self.components(args, kwargs)
        except Exception as exc:
            return Lookup({"task": self.task, "code": self.code, "reason": (
                f"ran: no cache key ({type(exc).__name__}: {exc})"[:500])})
        o = self.options
        try:
            outputs = find_reusable(
                meta, refresh=o.refresh, expiration=o.expiration, verify=o.verify
            )
        except Exception as exc:
            meta["reason"] = f"ran: cache lookup failed ({type(exc).__name__}: {exc})"[:500]
            return Lookup(meta)
        return Lookup(meta) if outputs is None else Lookup(meta, hit=True, outputs=outputs)

    def finish(self, run: Any, lookup: Lookup, result: Any) -> None:
        """Store the key, its components and the outputs' digests with a completed run."""
        meta = lookup.meta
        try:
            shape, items = output_items(result)
            outputs: dict[str, str] = {}
            for label, value in items:
                digest = known_digests.get(value) or content_digest(value, known_digests.get)
                known_digests.add(value, digest)
                outputs[label] = digest
            # The labels' order too: PostgreSQL's jsonb does not keep a dict's key order.
            meta.update(shape=shape, outputs=outputs, output_order=list(outputs))
        except Exception as exc:  # not reusable: no key, so no lookup finds it
            meta.pop("key", None)
            meta["reason"] = (
                f"{meta.get('reason', 'ran')}; result not cached: outputs have no digest "
                f"({type(exc).__name__}: {exc})"
            )[:500]
        if run is not None:
            run.vt_meta["cache"] = meta

    def reuse(self, run: Any, lookup: Lookup) -> Any:
        """Record a hit and return the reused value."""
        for _label, _rid, value in lookup.outputs:
            digest = lookup.meta["outputs"].get(_label)
            if digest:
                known_digests.add(value, digest)
        value = _rebuild(lookup.meta.get("shape", "single"),
                         [(label, v) for label, _rid, v in lookup.outputs])
        if run is not None:
            run.vt_meta["cache"] = lookup.meta
            self.tracker.end_reused(run, lookup.outputs, value)
        return value


def wrap_cached(fn: Callable[..., Any], tracker: Any, cache: TaskCache) -> Callable[..., Any]:
    """The tracked wrapper of ``fn`` that consults ``cache`` before calling it."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = tracker.begin(args, kwargs)
            lookup = cache.consult(args, kwargs)
            if lookup.hit:
                return cache.reuse(run, lookup)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                tracker.end_failed(run, exc)
                drop_own_frame(exc, async_wrapper)
                raise
            cache.finish(run, lookup, result)
            tracker.end_ok(run, result)
            return result

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = tracker.begin(args, kwargs)
            lookup = cache.consult(args, kwargs)
            if lookup.hit:
                return cache.reuse(run, lookup)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                tracker.end_failed(run, exc)
                drop_own_frame(exc, sync_wrapper)
                raise
            cache.finish(run, lookup, result)
            tracker.end_ok(run, result)
            return result

        wrapper = sync_wrapper
    wrapper.__vt_tracker__ = tracker
    wrapper.__vt_cache__ = cache
    return wrapper
