"""The built-in RingCentral stand-in: an aiohttp server speaking the REST paths faxbridge uses.

It is the provider in demo mode and in tests, and `faxbridge sandbox` runs it alone.
It keeps RingCentral's limits, error bodies and rate-limit groups, moves each fax through
Queued -> Sent -> Delivered (or SendingFailed, by destination number), performs the
WebHook handshake and notifications, and takes scripted faults. `/_standin/...` is an
admin API for inspecting and driving it from another process.

    running = await start_standin(config=StandinConfig(delay_seconds=0.05))
    ...  # point the client at running.url; inspect running.standin.messages
    await running.close()
"""

from adapters.ringcentral.standin.server import RunningStandin, build_app, run_standin, start_standin
from adapters.ringcentral.standin.world import RequestRecord, Standin, StandinConfig

__all__ = [
    "RequestRecord",
    "RunningStandin",
    "Standin",
    "StandinConfig",
    "build_app",
    "run_standin",
    "start_standin",
]
