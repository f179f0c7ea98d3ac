"""The errors vertex_track raises.

Every error is a :class:`VertexTrackError`; each one also inherits the builtin
exception it refines, so ``except LookupError`` or ``except ValueError`` keep
working in code that does not know about vertex_track::

    VertexTrackError (Exception)
    ├── NotFoundError (LookupError)          a resource does not exist
    ├── AlreadyExistsError                   a resource id is taken
    ├── ConflictError                        a stale etag, or a concurrent change
    ├── InvalidArgumentError (ValueError)    input breaks a rule (field, rule, value)
    │   ├── FilterError                      a malformed filter (with .position)
    │   ├── UntrustedArtifactError           load() refuses a location or a pickle
    │   └── ArtifactIntegrityError           stored bytes differ from their digest
    ├── StoreUnavailableError                the metadata store cannot be reached
    └── TrackingError                        a tracked run could not be recorded
                                             (on_tracking_error="raise")

    TrackingWarning (UserWarning)            the same, under on_tracking_error="warn"
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "ArtifactIntegrityError",
    "ConflictError",
    "FilterError",
    "InvalidArgumentError",
    "NotFoundError",
    "StoreUnavailableError",
    "TrackingError",
    "TrackingWarning",
    "UntrustedArtifactError",
    "VertexTrackError",
]


class VertexTrackError(Exception):
    """Base class of every error raised by vertex_track."""


class NotFoundError(VertexTrackError, LookupError):
    """The requested resource does not exist in the metadata store."""


class AlreadyExistsError(VertexTrackError):
    """A resource with the same resource id already exists in the store."""


class ConflictError(VertexTrackError):
    """The resource changed since it was read (stale etag); re-read and retry."""


class InvalidArgumentError(VertexTrackError, ValueError):
    """An argument breaks a validation rule; the message names field, rule and value."""


class FilterError(InvalidArgumentError):
    """A filter string could not be parsed or compiled.

    Attributes:
        filter: the filter string as given.
        position: 0-based offset of the problem in ``filter``.
        expected: what the parser expected at ``position`` (may be empty).
    """

    def __init__(self, message: str, *, filter: str = "", position: int = 0, expected: str = ""):
        self.filter = filter
        self.position = position
        self.expected = expected
        self.reason = message
        if filter:
            caret = " " * position + "^"
            message = f"{message}\n  {filter}\n  {caret}"
        super().__init__(message)


class StoreUnavailableError(VertexTrackError):
    """The metadata store could not be opened or reached (after retries)."""


class TrackingError(VertexTrackError):
    """A tracked task or flow run could not be recorded (``on_tracking_error="raise"``).

    The task's own outcome is never changed by it: its value was returned and
    its exception raised. The ``vt.flow`` run fails at its end with this error.
    """


class TrackingWarning(UserWarning):
    """A tracked run could not be recorded (``on_tracking_error="warn"``); the task is unaffected."""
class UntrustedArtifactError(InvalidArgumentError):
    """``Artifact.load()`` refused to read: the URI is outside the artifact
    stores this process trusts, or reading it would unpickle (run code) bytes
    vertex_track did not write there. ``load(trust=True)`` reads it anyway."""


class ArtifactIntegrityError(InvalidArgumentError):
    """The stored bytes no longer match the content digest recorded for them.

    Attributes:
        expected: the recorded digest (``sha256:...``).
        actual: the digest of what is stored now.
    """

    def __init__(self, message: str, *, expected: str = "", actual: str = ""):
        self.expected = expected
        self.actual = actual
        super().__init__(message)
