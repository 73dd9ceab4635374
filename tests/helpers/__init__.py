"""What the tests and the benchmarks share: free ports, waiting, clean environments, processes, relays."""
