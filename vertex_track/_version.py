"""The distribution's version, in a leaf module so that the command line can print it."""

__version__ = "0.1.0"
