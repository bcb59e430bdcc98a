"""Redis implementations of the ports of :mod:`chat.ports`: several server processes, one chat.

One module per port: :class:`RedisSequencer` (:mod:`chat.redis.sequencer`),
:class:`RedisDirectory` (:mod:`chat.redis.directory`), :class:`RedisBus`
(:mod:`chat.redis.bus`) and :class:`RedisHistory` (:mod:`chat.redis.history`);
:mod:`chat.redis.codec` turns events into text and back, and
:mod:`chat.redis.connection` says where Redis is and connects to it. Each
passes its port's contract suite in ``tests/contract`` against a real
redis-server. Nothing wires them into the server yet (no ``--redis``):
docs/scaling.md says what exists and what is planned.
"""
