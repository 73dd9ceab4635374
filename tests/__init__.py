"""The test suite: one folder per part of faxbridge; shared helpers in tests/helpers."""
