"""ZeroMQ CURVE authentication and encryption for every sevens socket.

With ``security.keys_dir`` empty (the default) every endpoint must be on loopback or ipc:
only users of this host can reach it, and the control role is the control token.
With a keys directory (``sevens keys generate DIR``)::

    DIR/server.key, server.key_secret      every binding socket's identity
    DIR/daq.key_secret                      the DAQ processes' client identity
    DIR/control.key_secret                  the control role (shift crew: start/stop)
    DIR/viewer.key_secret                   the viewer role (GUI that only watches)
    DIR/authorized/*.key                    public keys allowed to connect at all
    DIR/control_authorized/*.key            public keys allowed to change the run

every socket is encrypted, a ZAP authenticator in each binding process admits only the
public keys in ``authorized/``, and the supervisor accepts start/stop/reset/shutdown only
from a key in ``control_authorized/`` (or with the local control token). Binding beyond
loopback is allowed only with keys.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

ROLES = ("daq", "control", "viewer")
ZAP_DOMAIN = "sevens"  # the sockets people connect to: control, monitor, alarms (every authorised key)
ZAP_DOMAIN_DAQ = "sevens-daq"  # the DAQ's own links and status (only the keys in daq_authorized/)


class SecurityError(RuntimeError):
    """Missing or unreadable keys; the text says which file and how to make it."""


@dataclass
class Keys:
    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes
    authorized: Path
    control_public: frozenset[str]  # z85 public keys of the control role
    daq_public: str = ""  # z85 public key of the DAQ processes (their status messages need it)


_active: Keys | None = None
_authenticator: ThreadAuthenticator | None = None


def generate(directory: str | Path) -> dict[str, Path]:
    """Create the server and role certificates and the authorised-key folders in ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "authorized").mkdir(exist_ok=True)
    (d / "control_authorized").mkdir(exist_ok=True)
    made = {}
    for name in ("server", *ROLES):
        if not (d / f"{name}.key_secret").exists():
            zmq.auth.create_certificates(d, name)
        (d / f"{name}.key_secret").chmod(0o600)
        made[name] = d / f"{name}.key_secret"
    (d / "daq_authorized").mkdir(exist_ok=True)
    for role in ROLES:
        shutil.copy(d / f"{role}.key", d / "authorized" / f"{role}.key")
    shutil.copy(d / "control.key", d / "control_authorized" / "control.key")
    shutil.copy(d / "daq.key", d / "daq_authorized" / "daq.key")
    return made


def _load(path: Path) -> tuple[bytes, bytes]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise SecurityError(f"{path}: cannot read CURVE certificate ({exc}); make keys with "
                            f"`sevens keys generate {path.parent}`") from None
    if secret is None:
        raise SecurityError(f"{path}: holds no secret key")
    return public, secret


def configure(keys_dir: str, role: str) -> Keys | None:
    """Load the keys of ``role`` for this process (None: no CURVE). Call once, before any socket."""
    global _active
    if not keys_dir:
        _active = None
        return None
    if role not in ROLES:
        raise SecurityError(f"unknown role {role!r}; expected one of {ROLES}")
    d = Path(keys_dir)
    server_public, server_secret = _load(d / "server.key_secret")
    client_public, client_secret = _load(d / f"{role}.key_secret")
    control = set()
    for path in sorted((d / "control_authorized").glob("*.key")):
        public, _ = zmq.auth.load_certificate(path)
        control.add(public.decode())
    if not (d / "authorized").is_dir():
        raise SecurityError(f"{d / 'authorized'}: missing; make keys with `sevens keys generate {d}`")
    daq_public = ""
    if (d / "daq.key").is_file():
        daq_public = zmq.auth.load_certificate(d / "daq.key")[0].decode()
    elif role == "daq":
        daq_public = client_public.decode()
    daq_authorized = d / "daq_authorized"
    if not daq_authorized.is_dir() and (d / "daq.key").is_file():  # keys made before daq_authorized/ existed
        try:
            daq_authorized.mkdir()
            shutil.copy(d / "daq.key", daq_authorized / "daq.key")
        except OSError as exc:
            raise SecurityError(f"{daq_authorized}: missing and cannot be made ({exc.strerror}); run "
                                f"`sevens keys generate {d}` again") from None
    _active = Keys(server_public, server_secret, client_public, client_secret, d / "authorized",
                   frozenset(control), daq_public)
    return _active


def active() -> Keys | None:
    return _active


def serve(sock: zmq.Socket, daq_only: bool = False) -> None:
    """Make ``sock`` (about to bind) a CURVE server behind the ZAP authenticator; with ``daq_only``
    only the DAQ processes' key may connect (a viewer's or the control key cannot feed a data link
    or speak for a process)."""
    global _authenticator
    keys = _active
    if keys is None:
        return
    if _authenticator is None:
        _authenticator = ThreadAuthenticator(zmq.Context.instance())
        _authenticator.start()
        _authenticator.configure_curve(domain=ZAP_DOMAIN, location=str(keys.authorized))
        _authenticator.configure_curve(domain=ZAP_DOMAIN_DAQ, location=str(keys.authorized.parent / "daq_authorized"))
    sock.curve_secretkey = keys.server_secret
    sock.curve_publickey = keys.server_public
    sock.curve_server = True
    sock.zap_domain = (ZAP_DOMAIN_DAQ if daq_only else ZAP_DOMAIN).encode()


def client(sock: zmq.Socket) -> None:
    """Make ``sock`` (about to connect) a CURVE client of the sevens server key."""
    keys = _active
    if keys is None:
        return
    sock.curve_secretkey = keys.client_secret
    sock.curve_publickey = keys.client_public
    sock.curve_serverkey = keys.server_public


def is_control(user_id: str | None) -> bool:
    """True if a request authenticated as ``user_id`` (a z85 public key) may change the run."""
    keys = _active
    return keys is not None and user_id is not None and user_id in keys.control_public


def is_daq_process(user_id: str | None) -> bool:
    """True if a message authenticated as ``user_id`` comes from a DAQ process (the daq key):
    a viewer's or the control role's key may not speak for a process."""
    keys = _active
    return keys is not None and user_id is not None and bool(keys.daq_public) and user_id == keys.daq_public


def stop() -> None:
    global _authenticator
    if _authenticator is not None:
        _authenticator.stop()
        _authenticator = None
