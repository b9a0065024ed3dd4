"""ZeroMQ sockets for the two kinds of data path.

Lossless links (PUSH -> PULL) block the sender when the receiver falls behind
(backpressure, high-water mark ``endpoints.lossless_hwm``). Monitoring links (PUB -> SUB)
never block: a message that would wait is dropped and counted by the publisher, and
the subscriber counts the gap from the sequence numbers.

Receivers and publishers bind; senders and subscribers connect. Non-loopback binds are
refused unless CURVE keys are configured (not yet available: see docs/deployment.md).
"""

from __future__ import annotations

import ipaddress
import socket as pysocket
from urllib.parse import urlsplit

import zmq

from daq import envelope
from daq.envelope import Message


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
    """Bind ``sock``; refuse a non-loopback address (it would need CURVE authentication)."""
    if not is_loopback(endpoint):
        raise EndpointError(
            f"endpoints.{what} = {endpoint!r} binds beyond loopback; that needs ZeroMQ CURVE keys, "
            "which this build does not configure yet (use 127.0.0.1 or ipc://)"
        )
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise EndpointError(f"endpoints.{what} = {endpoint!r}: cannot bind: {exc}") from None


def pull(ctx: zmq.Context, endpoint: str, hwm: int, what: str) -> zmq.Socket:
    sock = ctx.socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    bind(sock, endpoint, what)
    return sock


def push(ctx: zmq.Context, endpoint: str, hwm: int) -> zmq.Socket:
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(endpoint)
    return sock


def publisher(ctx: zmq.Context, endpoint: str, hwm: int, what: str) -> zmq.Socket:
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    bind(sock, endpoint, what)
    return sock


def subscriber(ctx: zmq.Context, endpoint: str, hwm: int = 1000) -> zmq.Socket:
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint)
    return sock


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
    return envelope.unpack(frames)
