"""Helpers shared by the tests: stand-ins, processes, ports and fixtures."""
