"""``vertex-track serve``: Vertex AI's v1 REST API (MetadataService, operations) over a store.

Google's own SDK (``google-cloud-aiplatform``) and plain HTTP clients run
against it unchanged once pointed at it; see ``docs/serve.md``. Build the
ASGI app with :func:`vertex_track.serve.app.create_app`.
"""
