"""Service-provider fixtures that stand in for the relying parties under test."""
