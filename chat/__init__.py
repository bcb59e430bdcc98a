"""tcpchat: a chat room server for terminals, built on Twisted."""

__version__ = "0.1.0"
