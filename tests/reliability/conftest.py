"""The reliability suite drives real processes; its helpers live beside it in reliability_harness.py.

The Slack scenarios reuse the fake Slack Web API of tests/slack.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "slack"))
