"""The registry under its former name: see :mod:`chat.domain.registry`."""

from chat.domain.errors import ChatError as ChatError
from chat.domain.registry import FLUSH_DELAY as FLUSH_DELAY
from chat.domain.registry import LOBBY as LOBBY
from chat.domain.registry import Registry as Registry
