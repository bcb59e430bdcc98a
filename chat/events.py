"""The domain's events under their former name: see :mod:`chat.domain.events`."""

from chat.domain.events import Action as Action
from chat.domain.events import Batch as Batch
from chat.domain.events import Event as Event
from chat.domain.events import Message as Message
from chat.domain.events import Said as Said
