"""ZeroMQ sockets for the two kinds of data path.

Lossless links (PUSH -> PULL) block the sender when the receiver falls behind
(backpressure, high-water mark ``endpoints.lossless_hwm``). Monitoring links (PUB -> SUB)
never block: a message that would wait is dropped and counted by the publisher, and
the subscriber counts the gap from the sequence numbers.

Receivers and publishers bind; senders and subscribers connect. With CURVE keys configured
(:mod:`daq.wire.security`) every binding socket is a CURVE server behind the ZAP authenticator
and every connecting socket a CURVE client; without keys, a bind beyond loopback is refused.
"""

from __future__ import annotations

import ipaddress
import socket as pysocket
from urllib.parse import urlsplit

import zmq

from daq.wire import envelope, ownership, security
from daq.wire.envelope import Message

PUBLIC_ENDPOINTS = ("control", "monitor", "alarms")  # what people (GUI, CLI) connect to; the rest is the DAQ's own


class EndpointError(ValueError):
    """An endpoint that may not be used as asked; the text says why."""


def is_loopback(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// endpoints on a loopback address."""
    if not endpoint.startswith("tcp://"):
        return True
    host = urlsplit(endpoint).hostname or ""
    if host in ("localhost", "*"):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(pysocket.gethostbyname(host)).is_loopback
        except OSError:
            return False


def bind(sock: zmq.Socket, endpoint: str, what: str) -> None:
    """Bind ``sock`` (as a CURVE server when keys are configured) once this process owns the
    endpoint (:mod:`daq.wire.ownership`); refuse a non-loopback address without keys."""
    if security.active() is None and not is_loopback(endpoint):
        raise EndpointError(
            f"endpoints.{what} = {endpoint!r} binds beyond loopback, which needs ZeroMQ CURVE "
            "authentication: make keys with `sevens keys generate DIR` and set security.keys_dir = DIR "
            "(or bind to 127.0.0.1 / ipc://)"
        )
    try:
        ownership.claim_endpoint(endpoint, what)  # before the bind: an ipc bind would take the socket file
    except ownership.OwnedElsewhere as exc:
        raise EndpointError(str(exc)) from None
    security.serve(sock, daq_only=what not in PUBLIC_ENDPOINTS)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise EndpointError(f"endpoints.{what} = {endpoint!r}: cannot bind: {exc}") from None


def limit_size(sock: zmq.Socket, max_bytes: int | None) -> None:
    """Disconnect a peer that sends a frame larger than ``max_bytes`` (before it is read into memory)."""
    if max_bytes is not None and max_bytes > 0:
        sock.setsockopt(zmq.MAXMSGSIZE, int(max_bytes))


def pull(ctx: zmq.Context, endpoint: str, hwm: int, what: str, max_bytes: int | None = None) -> zmq.Socket:
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    limit_size(sock, max_bytes)
    bind(sock, endpoint, what)
    return sock


def push(ctx: zmq.Context, endpoint: str, hwm: int) -> zmq.Socket:
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.LINGER, 2000)
    connect(sock, endpoint)
    return sock


def publisher(ctx: zmq.Context, endpoint: str, hwm: int, what: str) -> zmq.Socket:
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    bind(sock, endpoint, what)
    return sock


def subscriber(ctx: zmq.Context, endpoint: str, hwm: int = 1000, max_bytes: int | None = None) -> zmq.Socket:
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    limit_size(sock, max_bytes)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    connect(sock, endpoint)
    return sock


def connect(sock: zmq.Socket, endpoint: str) -> None:
    """Connect ``sock`` (as a CURVE client when keys are configured)."""
    security.client(sock)
    sock.connect(endpoint)


def send(sock: zmq.Socket, msg: Message, flags: int = 0) -> None:
    """Send ``msg`` as envelope frames (array buffers are not copied)."""
    sock.send_multipart(envelope.pack(msg), flags=flags, copy=False)


def try_send(sock: zmq.Socket, msg: Message) -> bool:
    """Send without waiting; False if the message was dropped (queue full / no peer)."""
    try:
        send(sock, msg, zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


def recv(sock: zmq.Socket, flags: int = 0) -> Message:
    """Receive one message; raises envelope.EnvelopeError if malformed."""
    frames = sock.recv_multipart(flags=flags, copy=False)
    msg = envelope.unpack(frames)
    if security.active() is not None:
        try:
            msg.user_id = frames[0].get("User-Id")
        except zmq.ZMQError:
            msg.user_id = None
    return msg
