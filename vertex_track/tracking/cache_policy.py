"""``vt.cache_policy()``: vertex_track's content key as a Prefect cache policy.

For a plain ``@prefect.task`` that should be cached by Prefect (its result
storage, its ``Cached`` state) but keyed the way vertex_track keys its own
cache: the task's code with comments and decorators left out (or a
``version``), its scalar parameters as canonical JSON, and the content
digests of its other inputs
(:func:`vertex_track.artifacts.digest.content_digest`), which are the same in
every process. Prefect's own ``INPUTS`` policy hashes cloudpickle bytes, which
can differ between processes for equal values
(https://github.com/PrefectHQ/prefect/issues/12229).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import CachePolicy

from .._json import canonical
from ..artifacts.digest import content_digest
from ..exceptions import InvalidArgumentError
from .cache import code_hash, known_digests
from .values import is_parameter, parameter_value


@dataclass
class ContentCachePolicy(CachePolicy):
    """A Prefect cache policy keyed on code, parameters and input contents."""

    version: str | None = None
    ignore: tuple[str, ...] = ()

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The key of one task run (a hex SHA-256, usable as a file name)."""
        code = f"version:{self.version}" if self.version else code_hash(task_ctx.task.fn)
        params: dict[str, Any] = {}
        digests: dict[str, str] = {}
        for name, value in (inputs or {}).items():
            if name in self.ignore:
                continue
            if is_parameter(value):
                params[name] = parameter_value(value)
            else:
                digests[name] = known_digests.get(value) or content_digest(
                    value, known_digests.get
                )
        body = {"code": code, "params": params, "inputs": digests}
        return hashlib.sha256(canonical(body).encode()).hexdigest()


def cache_policy(*, version: str | None = None, ignore: Iterable[str] = ()) -> ContentCachePolicy:
    """A Prefect cache policy (``@prefect.task(cache_policy=vt.cache_policy())``).

    The key is the same for equal code, parameters and input contents in any
    process; Prefect then stores and reuses the result as with its own policies.

    Args:
        version: stands for the code in the key instead of the function's source.
        ignore: argument names left out of the key.

    Raises:
        InvalidArgumentError: ``version`` is not a non-empty string, or ``ignore``
            is a single string rather than a list of names.
    """
    if version is not None and (not isinstance(version, str) or not version):
        raise InvalidArgumentError(f"version must be a non-empty string, got {version!r}")
    if isinstance(ignore, str):
        raise InvalidArgumentError(
            f"ignore must be a list of argument names, got the string {ignore!r}"
        )
    return ContentCachePolicy(version=version, ignore=tuple(ignore))
