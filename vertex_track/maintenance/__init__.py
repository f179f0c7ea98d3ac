"""Looking after a store: what ``vertex-track gc`` and ``vertex-track doctor`` do.

- :mod:`.gc`: artifact files no record references, referenced files that are
  missing, and temporary files that crashed writers left behind;
- :mod:`.doctor`: integrity checks of the metadata store, and executions and
  pipeline runs whose process is gone, marked ``FAILED`` on request.
"""
