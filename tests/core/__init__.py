"""Tests of the core: states, rules, the store, the CLI and the engine."""
