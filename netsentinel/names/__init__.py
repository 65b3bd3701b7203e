"""Sets that follow DNS names (the ``names:`` section)."""
