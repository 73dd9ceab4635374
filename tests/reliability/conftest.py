"""The reliability suite drives real processes; its helpers live beside it in reliability_harness.py."""
