"""Port checks of the local stack: a port is in use only while something listens on it."""

from __future__ import annotations

import socket

from runner.local.ports import port_free


def _time_wait_port() -> int:
    """A loopback port whose last connection the server side closed first: it sits in TIME_WAIT."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the active close: this end goes to TIME_WAIT
    client.recv(1)
    client.close()
    listener.close()
    return port


def test_a_port_left_in_time_wait_by_a_stopped_server_is_free():
    assert port_free(_time_wait_port())


def test_a_port_something_listens_on_is_not_free():
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not port_free(busy.getsockname()[1])
