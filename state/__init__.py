"""Lifecycles (python-statemachine) and domain models: pure, no I/O, safe inside workflows."""
