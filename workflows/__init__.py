"""Temporal workflows: deterministic orchestration, one workflow per order."""
