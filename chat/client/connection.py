"""Where the client connects and how it stays connected: endpoints, retries, ClientService."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    SSL4ClientEndpoint,
    clientFromString,
    wrapClientTLS,
)
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.ssl import CertificateOptions, optionsForClientTLS
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.client.options import DEFAULT_RETRY_MAX, ClientOptions
from chat.client.session import ServerConnectionFactory, Session


def retry_policy(max_delay: float = DEFAULT_RETRY_MAX) -> Callable[[int], float]:
    """Seconds before retry n (n >= 1): 1, 2, 4, 8, ... up to ``max_delay``, plus up to 1 of
    jitter."""
    return backoffPolicy(initialDelay=0.5, maxDelay=max_delay, factor=2.0)


RETRY_POLICY = retry_policy()


def server_endpoint(reactor: Any, options: ClientOptions) -> IStreamClientEndpoint:
    """The endpoint the options name: an endpoint string, or HOST and PORT (with TLS or not).

    ``--tls`` checks the server's certificate against the system's trusted
    authorities and the host name; ``--tls-no-verify`` checks nothing.
    Raises ValueError, with a message for the user, for an endpoint string
    Twisted cannot parse.
    """
    endpoint: IStreamClientEndpoint
    if options.endpoint is not None:
        try:
            endpoint = clientFromString(reactor, options.endpoint)
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"cannot use endpoint {options.endpoint!r}: {error}") from None
        return endpoint
    if options.tls and not options.tls_verify:
        # CertificateOptions made without a trust root checks nothing.
        endpoint = SSL4ClientEndpoint(reactor, options.host, options.port, CertificateOptions())
        return endpoint
    tcp = HostnameEndpoint(reactor, options.host, options.port)
    if options.tls:
        return wrapClientTLS(optionsForClientTLS(options.host), tcp)
    return tcp


@implementer(IStreamClientEndpoint)
class _FailureReportingEndpoint:
    """Tells the session why each connection attempt failed."""

    def __init__(self, endpoint: IStreamClientEndpoint, session: Session) -> None:
        self._endpoint = endpoint
        self._session = session

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        attempt: Deferred[IProtocol] = self._endpoint.connect(protocolFactory)
        return attempt.addErrback(self._failed)

    def _failed(self, reason: Failure) -> Failure:
        self._session.connection_failed(reason)
        return reason


def keep_connected(
    session: Session,
    endpoint: IStreamClientEndpoint,
    clock: IReactorTime,
    retry_policy: Callable[[int], float] = RETRY_POLICY,
) -> ClientService:
    """A ClientService that connects the session and reconnects it with backoff.

    The session hears of each failed attempt and of each retry's delay.
    A connection that ended before the welcome (a certificate that cannot be
    verified, a server that never greets) counts as a failed attempt, so
    the delay grows as for a refused connection. The service is returned
    unstarted.
    """

    def reported_policy(failed_attempts: int) -> float:
        delay = retry_policy(failed_attempts + session.unwelcomed_connections)
        session.retry_scheduled(delay)
        return delay

    return ClientService(
        _FailureReportingEndpoint(endpoint, session),
        ServerConnectionFactory(session),
        retryPolicy=reported_policy,
        clock=clock,
    )
