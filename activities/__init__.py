"""Temporal activities: each wraps one signed provider call and classifies its failure."""
