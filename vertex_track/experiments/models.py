"""``log_model``: a model as a ``system.Model`` Artifact, its bytes in the artifact store.

The model is serialised by the artifact store's materializers
(:mod:`vertex_track.artifacts`): scikit-learn, XGBoost, LightGBM and PyTorch
models, and any other object cloudpickle can serialise, go through the pickle
materializer; a :class:`pathlib.Path` to a folder (a TensorFlow SavedModel,
say) is stored as that folder. Bytes are content-addressed under
``<root>/sha256/...``, where ``<root>`` is ``uri`` when given (the Vertex SDK's
"directory to save the model file"), else ``vt.init(artifact_root=...)``.

The Artifact's metadata (``frameworkName`` etc. as Vertex's ExperimentModel
writes them)::

    {"frameworkName": "sklearn", "frameworkVersion": "1.5.2",
     "modelClass": "sklearn.linear_model._logistic.LogisticRegression",
     "modelFile": "<hex>.pkl",
     "inputExample": {"uri": ..., "materializer": "json", "materializer_version": 1,
                      "digest": "sha256:..."},          # when input_example is given
     "vertex_track": {"digest": "sha256:...", "materializer": "pickle",
                      "materializer_version": 1, "size": 1234, "python_type": ...}}

The ``vertex_track`` key is the one tracked values use, so ``Artifact.load()``
reads the model back as well as :meth:`ExperimentModel.load_model` does.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from typing import Any

from ..artifacts import ArtifactStore, StoredValue
from ..config import get_settings
from ..exceptions import InvalidArgumentError
from ..resources import Artifact

SCHEMA = "system.Model"

# import root -> distribution that carries the version; the first match in the
# class's MRO wins, so an XGBoost or LightGBM scikit-learn wrapper is XGBoost.
_FRAMEWORKS = {
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "keras": "keras",
    "tensorflow": "tensorflow",
}


@functools.cache
def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def framework_of(model: Any) -> tuple[str, str]:
    """``(framework name, version)``: ``("sklearn", "1.5.2")``, ``("python", "3.11.9")``..."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in _FRAMEWORKS:
            return root, _version(_FRAMEWORKS[root])
    return "python", platform.python_version()


def _class_name(value: Any) -> str:
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _check_input_example(example: Any) -> None:
    module = type(example).__module__.split(".", 1)[0]
    ok = isinstance(example, (list, dict)) or (
        module == "pandas" and type(example).__name__ == "DataFrame"
    ) or (module == "numpy" and type(example).__name__ == "ndarray")
    if not ok:
        raise InvalidArgumentError(
            "input_example must be a list, dict, pandas DataFrame or numpy ndarray, got "
            f"{type(example).__name__}"
        )


def _put(root: str, value: Any, what: str) -> StoredValue:
    try:
        return ArtifactStore.for_root(root).put(value)
    except (InvalidArgumentError, OSError):
        raise
    except Exception as exc:  # the pickle materializer could not serialise it
        raise InvalidArgumentError(
            f"{what} of type {_class_name(value)} is not supported: it cannot be serialised "
            f"({type(exc).__name__}: {exc}). Save it yourself and log the file or folder as "
            "a pathlib.Path"
        ) from exc


def save_model(
    model: Any,
    *,
    artifact_id: str | None,
    uri: str | None,
    input_example: Any,
    display_name: str | None,
    store: Any,
) -> ExperimentModel:
    """Store ``model`` (and ``input_example``) and create its ``system.Model`` Artifact.

    Raises:
        InvalidArgumentError (a ValueError): the model cannot be serialised, the
            input example has an unsupported type, or ``artifact_id`` breaks the
            resource id rule.
        AlreadyExistsError: ``artifact_id`` is taken.
    """
    if model is None:
        raise InvalidArgumentError("model is required")
    if uri is not None and (not isinstance(uri, str) or not uri):
        raise InvalidArgumentError(f"uri must be a non-empty string, got {uri!r}")
    if input_example is not None:
        _check_input_example(input_example)
    root = uri or get_settings().artifact_root
    framework, version = framework_of(model)
    stored = _put(root, model, "model")
    metadata: dict[str, Any] = {
        "frameworkName": framework,
        "frameworkVersion": version,
        "modelClass": _class_name(model),
        "modelFile": stored.uri.rsplit("/", 1)[-1],
        "vertex_track": {
            "digest": stored.digest,
            "materializer": stored.materializer,
            "materializer_version": stored.materializer_version,
            "size": stored.size,
            "python_type": _class_name(model),
        },
    }
    if input_example is not None:
        example = _put(root, input_example, "input_example")
        metadata["inputExample"] = {
            "uri": example.uri,
            "materializer": example.materializer,
            "materializer_version": example.materializer_version,
            "digest": example.digest,
        }
    artifact = Artifact.create(
        SCHEMA,
        uri=stored.uri,
        resource_id=artifact_id,
        display_name=display_name if display_name is not None else f"{framework}-model",
        metadata=metadata,
        store=store,
    )
    return ExperimentModel.from_artifact(artifact)


class ExperimentModel(Artifact):
    """A ``system.Model`` Artifact logged with ``log_model`` (Vertex's ``ExperimentModel``)."""

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> ExperimentModel:
        return cls.model_construct(**{name: getattr(artifact, name) for name in Artifact.model_fields})

    def load_model(self, trust: bool = False) -> Any:
        """The model back, as it was logged (checked as :meth:`Artifact.load` checks).

        Args:
            trust: as for :meth:`Artifact.load`: read a pickled model from
                outside the artifact roots this process uses.

        Raises:
            InvalidArgumentError: the Artifact has no model vertex_track wrote
                (created by hand), or its encoding is unknown here.
            NotFoundError: its bytes are gone from the artifact store.
        """
        vt_meta = self.metadata.get("vertex_track")
        if not isinstance(vt_meta, dict) or "materializer" not in vt_meta:
            raise InvalidArgumentError(
                f"artifact {self.name!r} (uri {self.uri!r}) was not written by log_model, so "
                "load_model() cannot read it; open its uri yourself"
            )
        return _load(
            self.uri, vt_meta["materializer"], vt_meta.get("materializer_version"),
            digest=vt_meta.get("digest"), what=f"model {self.name!r}", trust=trust,
        )

    def load(self, trust: bool = False) -> Any:
        """Same as :meth:`load_model`."""
        return self.load_model(trust=trust)

    def get_model_info(self) -> dict[str, Any]:
        """``model_class``, ``framework_name``, ``framework_version``, ``input_example`` (or None)."""
        md = self.metadata
        example = md.get("inputExample")
        return {
            "model_class": md.get("modelClass"),
            "framework_name": md.get("frameworkName"),
            "framework_version": md.get("frameworkVersion"),
            "input_example": _load(
                example["uri"], example["materializer"], example.get("materializer_version"),
                digest=example.get("digest"), what=f"the input example of {self.name!r}",
            ) if isinstance(example, dict) else None,
        }


def _load(
    uri: str, materializer: str, version: int | None, *, digest: str | None, what: str,
    trust: bool = False,
) -> Any:
    # The object's own store is found from its URI, whatever the root.
    from ..artifacts.safety import load_recorded

    return load_recorded(
        uri, materializer, version, digest=digest, what=what,
        root=get_settings().artifact_root, trust=trust,
    )
