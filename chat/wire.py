"""The line renderer under its former name: see :mod:`chat.line.render`."""

from chat.line.render import ERROR as ERROR
from chat.line.render import NOTICE as NOTICE
from chat.line.render import encode_batch as encode_batch
from chat.line.render import encode_line as encode_line
from chat.line.render import render as render
