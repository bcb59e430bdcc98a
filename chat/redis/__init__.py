"""Redis implementations of the ports of :mod:`chat.ports`: several server processes, one chat.

One module per port: :class:`RedisSequencer` (:mod:`chat.redis.sequencer`),
:class:`RedisDirectory` (:mod:`chat.redis.directory`), :class:`RedisBus`
(:mod:`chat.redis.bus`) and :class:`RedisHistory` (:mod:`chat.redis.history`);
:class:`RedisRooms` (:mod:`chat.redis.rooms`) is a node's sequencer, history
and bus at once, numbering each message where its room's order is made;
:mod:`chat.redis.node` builds a node for ``--redis URL``.
:mod:`chat.redis.codec` turns events into text and back,
:mod:`chat.redis.address` says where Redis is (and parses the URL) and
:mod:`chat.redis.connection` connects to it. Each port passes its contract
suite in ``tests/contract`` against a real redis-server; docs/scaling.md says
what works across nodes and what is planned.
"""
