"""``python -m chat.client``: the same as ``tcpchat-client``."""

from chat.client.main import main

main()
