"""``python -m vertex_track.cli``: the same as the ``vertex-track`` command."""

from .entry import main

main()
