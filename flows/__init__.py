"""Ready-made Prefect flows built on vertex_track (SPEC section 6).

The custom-training and hyperparameter-tuning pipelines of Vertex AI
(seed 003) will live here; they are plain Prefect flows with typed
(pydantic) parameters, so they deploy and run from Prefect's CLI and UI.
"""
