"""Tests that start the real server (``twistd tcpchat``) or real programs: client, nc, tmux."""
