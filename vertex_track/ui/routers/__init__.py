"""One router per page: its HTML page and its JSON twin under ``/api/``."""
