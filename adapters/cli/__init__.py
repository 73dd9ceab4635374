"""The command line and the process that wires every part together: one more way in to the core."""
