"""Tests of what an operator sees: check, logs, privacy."""
