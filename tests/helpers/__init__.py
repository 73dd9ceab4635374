"""What the tests and the benchmarks share: ports, waiting, clean environments, processes, relays,
the RingCentral stand-in driven from a test, and a world of real processes."""
