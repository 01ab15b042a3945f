"""Scenario files, the runner, the ``fedharness`` command line and the pytest plugin."""
