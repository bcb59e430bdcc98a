"""What the tests share that is not a test: servers and clients started for real, fakes, checks."""
