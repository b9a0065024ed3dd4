"""CURVE: every link encrypted and authenticated; viewers watch but cannot act; strangers get
nothing; binding beyond loopback without keys is refused with a message naming CURVE."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import zmq

from daq import config
from daq.config import ENDPOINT_KEYS
from daq.control.client import NoAnswer, request
from daq.wire import envelope, security, transport
from daq.wire.envelope import Message

from .test_deployment import free_ports

SEVENS = [sys.executable, "-m", "daq.cli"]


def curve_config(tmp_path: Path, keys: Path) -> config.Config:
    ports = free_ports(len(ENDPOINT_KEYS))
    endpoints = {key: f"tcp://127.0.0.1:{p}" for key, p in zip(ENDPOINT_KEYS, ports, strict=True)}
    cfg = config.with_overrides(config.load(), {"endpoints": endpoints, "security": {"keys_dir": str(keys)}})
    path = tmp_path / "curve.toml"
    path.write_text(cfg.text)
    return config.load(path)


def received_within(sock: zmq.Socket, seconds: float) -> int:
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sock.poll(100):
            sock.recv_multipart()
            n += 1
    return n


def test_curve_run_roles_and_strangers(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    gen = subprocess.run([*SEVENS, "keys", "generate", str(keys)], capture_output=True, text=True, timeout=60)
    assert gen.returncode == 0 and (keys / "control_authorized" / "control.key").exists()
    cfg = curve_config(tmp_path, keys)
    runs = tmp_path / "runs"
    daq = subprocess.Popen([*SEVENS, "daq", "--simulate", "--config", cfg.path, "--run-dir", str(runs),
                            "--duration", "12", "--speed", "3", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context.instance()
    try:
        security.configure(str(keys), "viewer")
        deadline = time.monotonic() + 120
        status = {}
        while time.monotonic() < deadline:
            try:
                status = request(cfg, {"cmd": "status"}, timeout_s=2)
            except NoAnswer:
                status = {}
            if status.get("state") == "running":
                break
            time.sleep(0.5)
        assert status.get("state") == "running"  # the viewer may look ...
        refused = request(cfg, {"cmd": "stop"})
        assert not refused["ok"] and "not authorised" in refused["error"]  # ... but not act
        viewer_sub = transport.subscriber(ctx, cfg.endpoints.monitor)
        # a stranger: a valid CURVE key pair that is not in authorized/
        stranger = ctx.socket(zmq.SUB)
        public, secret = zmq.curve_keypair()
        stranger.curve_publickey, stranger.curve_secretkey = public, secret
        stranger.curve_serverkey = security.active().server_public
        stranger.setsockopt(zmq.SUBSCRIBE, b"")
        stranger.connect(cfg.endpoints.monitor)
        plain = ctx.socket(zmq.REQ)  # no CURVE at all
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(cfg.endpoints.control)
        plain.send(b"{}")
        # the viewer's key cannot speak for a process, nor feed a DAQ link: those sockets admit
        # only the DAQ's key (daq_authorized/); a spoofed error would have aborted the run
        spoof = ctx.socket(zmq.PUSH)
        spoof.setsockopt(zmq.LINGER, 0)
        transport.connect(spoof, cfg.endpoints.status)
        spoof.send_multipart(envelope.pack(Message(stream="status", kind="status", source="recorder",
                                                   meta={"event": "error", "reason": "spoofed by a viewer"})),
                             flags=zmq.NOBLOCK)
        assert received_within(viewer_sub, 3) > 0
        assert received_within(stranger, 2) == 0
        assert plain.poll(1000) == 0
        assert request(cfg, {"cmd": "status"}, timeout_s=5)["error"] is None
        for sock in (viewer_sub, stranger, plain, spoof):
            sock.close(0)
        out, err = daq.communicate(timeout=120)
        assert daq.returncode == 0, err[-2000:]
        t = json.loads(out.strip().splitlines()[-1])["triggers"]
        assert t["generated"] == t["recorded"] > 0
    finally:
        security.configure("", "viewer")
        security.stop()
        if daq.poll() is None:
            daq.kill()


def test_bind_beyond_loopback_without_keys_is_refused(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    cfg = config.with_ipc_endpoints(config.load(), tmp_path / "ipc", endpoints={"monitor": f"tcp://0.0.0.0:{port}"})
    proc = subprocess.run([*SEVENS, "daq", "--simulate", "--config", cfg.path, "--run-dir", str(tmp_path / "runs"),
                           "--duration", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr + "".join(p.read_text() for p in (tmp_path / "runs" / "logs").glob("cuts.*"))
    assert "CURVE" in text and "sevens keys generate" in text
