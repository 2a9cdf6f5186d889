"""Hierarchical text classification."""
