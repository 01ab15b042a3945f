"""The fedharness mock identity provider."""
