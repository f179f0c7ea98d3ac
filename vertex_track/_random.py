"""The library's own random number generator, so it never moves the user's.

A script that seeds Python's global ``random`` (``random.seed(0)``) for a
reproducible run gets the same numbers whether or not vertex_track generated
an id or a retry delay in between. Uniqueness, not secrecy, is what the
library needs from it. Reseeded in a forked child (as Python does for the
global generator), so two forked workers never draw the same ids.
"""

from __future__ import annotations

import os
import random

__all__ = ["rng"]

rng = random.Random()
os.register_at_fork(after_in_child=rng.seed)
