"""End-to-end tests: serve, send and reconcile wired as they run."""
