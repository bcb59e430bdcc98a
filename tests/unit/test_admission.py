"""Admission in memory: the limits on connections in all and from one address."""

from __future__ import annotations

from chat.session.admission import LOCAL, Admission, ServerFull, Ticket, TooManyFromAddress


def _ticket(decision: object) -> Ticket:
    assert isinstance(decision, Ticket), decision
    return decision


def test_connections_over_max_clients_are_refused_with_the_limit() -> None:
    """The connection after max_clients is refused as the server being full."""
    admission = Admission(max_clients=2, max_per_address=0)
    _ticket(admission.admit("192.0.2.1"))
    _ticket(admission.admit("192.0.2.2"))
    assert admission.admit("192.0.2.3") == ServerFull(2)


def test_connections_over_the_per_address_limit_are_refused_with_address_and_limit() -> None:
    """The connection after max_per_address from one address is refused; others still come in."""
    admission = Admission(max_clients=0, max_per_address=2)
    _ticket(admission.admit("192.0.2.1"))
    _ticket(admission.admit("192.0.2.1"))
    assert admission.admit("192.0.2.1") == TooManyFromAddress("192.0.2.1", 2)
    _ticket(admission.admit("192.0.2.2"))


def test_a_release_makes_room_again() -> None:
    """A released ticket frees its place in all and for its address."""
    admission = Admission(max_clients=1, max_per_address=1)
    first = _ticket(admission.admit("192.0.2.1"))
    admission.release(first)
    _ticket(admission.admit("192.0.2.1"))


def test_a_second_release_of_one_ticket_changes_nothing() -> None:
    """Releasing a ticket twice does not free a second place."""
    admission = Admission(max_clients=2, max_per_address=0)
    first = _ticket(admission.admit("192.0.2.1"))
    _ticket(admission.admit("192.0.2.2"))
    admission.release(first)
    admission.release(first)
    _ticket(admission.admit("192.0.2.3"))
    assert admission.admit("192.0.2.4") == ServerFull(2)
    assert admission.served == 2


def test_addresses_are_forgotten_when_their_last_connection_ends() -> None:
    """No count is kept for an address with no connection left."""
    admission = Admission(max_clients=0, max_per_address=4)
    tickets = [_ticket(admission.admit("192.0.2.1")) for _ in range(3)]
    for ticket in tickets:
        admission.release(ticket)
    assert admission.per_address == {}
    assert admission.served == 0


def test_local_peers_count_towards_max_clients_only() -> None:
    """Unix-socket peers share no address limit, but fill the server like any other."""
    admission = Admission(max_clients=3, max_per_address=1)
    _ticket(admission.admit(LOCAL))
    _ticket(admission.admit(LOCAL))
    _ticket(admission.admit(LOCAL))
    assert admission.admit(LOCAL) == ServerFull(3)


def test_zero_means_no_limit() -> None:
    """With both limits 0, every connection is admitted."""
    admission = Admission(max_clients=0, max_per_address=0)
    for _ in range(100):
        _ticket(admission.admit("192.0.2.1"))
    assert admission.served == 100
