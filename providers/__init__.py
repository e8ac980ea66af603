"""Typed HTTP clients, request signing and callback verification for each provider; no Temporal."""
