"""Drivers that run the protocol cores: SimNet (``sim``), the in-memory link (``memlink``)."""
