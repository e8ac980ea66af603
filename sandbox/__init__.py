"""Faithful stateful simulators of both providers, with fault injection."""
