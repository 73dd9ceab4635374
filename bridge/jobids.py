"""Job ids typed short: any prefix of at least a few characters that fits exactly one job."""

from __future__ import annotations

from bridge.errors import AmbiguousJobId, JobNotFound
from bridge.ports import Jobs

# As git does for commits: shorter prefixes would soon fit a new job as well, and act on the wrong one.
MIN_PREFIX = 4
SHOWN = 5  # candidates named when a prefix fits several


async def full_job_id(jobs: Jobs, typed: str) -> str:
    """The one job id that begins with `typed`; raise JobNotFound or AmbiguousJobId saying why."""
    prefix = typed.strip().lower()
    if len(prefix) < MIN_PREFIX:
        raise AmbiguousJobId(f"job id {typed!r} is too short: give at least {MIN_PREFIX} characters")
    ids = await jobs.ids_starting(prefix, limit=SHOWN + 1)
    if prefix in ids:
        return prefix
    if not ids:
        raise JobNotFound(f"no job {prefix}: no job id starts with it (`faxbridge jobs` lists them)")
    if len(ids) > 1:
        named = ", ".join(ids[:SHOWN]) + (", …" if len(ids) > SHOWN else "")
        raise AmbiguousJobId(f"job id {prefix} fits several jobs ({named}); give more of it")
    return ids[0]
