"""Recommendations from likes and history: pure taste math (numpy) and its I/O glue."""
