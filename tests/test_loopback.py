"""The loopback helpers the sink tests share (``tests/_loopback.py``)."""

from __future__ import annotations

import socket

import pytest
from _loopback import refused_port


def test_a_refused_port_refuses_connections_and_no_other_socket_can_take_it_meanwhile() -> None:
    # a port closed again once picked could be bound by another xdist worker's server before the test connected
    with refused_port() as port:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with socket.socket() as other, pytest.raises(OSError, match="Address already in use"):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers set it (redis-server does)
            other.bind(("127.0.0.1", port))
