"""Contract suites that any implementation of a port must pass (none yet)."""
