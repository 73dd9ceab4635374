"""The faxbridge executable as an operator meets it: help, output, pipes, signals, start-up failures."""
