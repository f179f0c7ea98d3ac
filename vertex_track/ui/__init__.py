"""``vertex-track ui``: a local, read-only web app over the metadata store.

Pages for pipeline runs (a Gantt timeline and the run's DAG), lineage (an
interactive graph), experiments (runs x params/metrics, time series,
classification metrics) and artifacts/executions. Every page is a static
HTML file that draws itself from a JSON twin under ``/api/``; the JSON routes
are built on the public library API only (``vertex_track``'s resources,
``PipelineRun``, ``lineage``, experiments), so the store's internals can
change underneath. Only GET routes exist, and the store is opened read-only.

Start it with ``vertex-track ui`` or, from Python, serve
``vertex_track.ui.app.create_app()`` with any ASGI server.
"""
