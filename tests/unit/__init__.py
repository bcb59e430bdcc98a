"""Tests that drive objects in memory: no sockets to the outside, no real time."""
