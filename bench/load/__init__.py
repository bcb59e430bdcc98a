"""Load generator and benchmark for the tcpchat server (run by hand, not by the test suite).

It starts the real server (``twistd -n tcpchat``) on a free loopback port,
or drives one given with ``--target 127.0.0.1:PORT``, and measures:

- W1 fan-out: a room of ``--room`` clients, ``--senders`` of them writing
  ``--messages`` lines each as fast as the server takes them; deliveries per
  second until every receiver holds every message.
- W2 latency: the same room, ``--rate`` messages per second paced for
  ``--duration`` seconds; p50/p99/p99.9 from ``send()`` to the read that
  brought the line in.
- W3 scale: ``--clients`` concurrent clients joining as fast as the server
  takes them (handshakes per second, server VmRSS/VmHWM, whether the join
  storm grows as N squared), then one message reaching all of them.
- ``--redis``: W1/W2 over clusters of N processes sharing one Redis, beside
  one process without Redis.
- R reader ceiling: a trivial in-bench blaster writes W1's volume to the
  generator, to show how fast the generator itself can read.

Run it as ``python bench/loadgen.py`` (or ``python -m bench.load`` from the
repository). The modules, from the bottom up:

- ``dialect``: the IRC dialect (``--dialect irc``): what IRC clients send and read.
- ``verification``: what is sent, what must arrive, and the check of both.
- ``engine``: the generator process, clients on raw sockets and one ``epoll``.
- ``pool``: the generator processes, driven in lock step over pipes.
- ``ircd``: ngircd and InspIRCd, the servers the IRC dialect compares with.
- ``server``: the server under test and one run's session.
- ``cluster``: ``--redis``: a redis-server of the run's own and N tcpchat nodes over it.
- ``host``: readings of the machine (other processes' CPU, steal, jitter).
- ``workloads``: W1, W2, W3 and R, each returning one run's metrics.
- ``report``: the Markdown results table.
- ``cli``: the options and the runs.
"""
