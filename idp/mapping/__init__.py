"""Mapping engines: how a real IdP turns directory groups into AWS attributes."""
