"""Checks of a parsed config against what the system can do: endpoints, socket options, memory, seeds.

Each bound comes from the thing that enforces it, so a value past it is refused here, in one
line, instead of failing in a child process with the traceback only in its log:

- ``tcp://`` endpoints need a port 1..65535 (a larger number wraps to 16 bits: 99999 was bound
  as 34463); ``ipc://`` paths fit a Unix socket address (``sun_path``);
  ``inproc://`` reaches only threads of one process, and every sevens process is its own program;
- ZeroMQ's high-water marks are C ``int`` options (at most 2**31 - 1), its largest-message limit
  (ZMQ_MAXMSGSIZE) an int64, and a data socket must accept a batch's raw records;
- numpy seeds its generators from non-negative integers (``SeedSequence``);
- one batch of records (``run.batch_max_triggers`` x channels x samples) is held by each
  process of the lossless path at once, and the recorder fills one raw chunk per recorded channel
  (``recorder.chunk_records`` x samples): more than the host's memory cannot be allocated.
"""

from __future__ import annotations

import os
import sys

from daq.config.errors import ConfigError
from daq.config.schema import ENDPOINT_KEYS, Config

PORTS = (1, 65535)
C_INT_MAX = 2**31 - 1  # ZMQ_SNDHWM / ZMQ_RCVHWM are int options
INT64_MAX = 2**63 - 1
SEED_MAX = INT64_MAX  # stored as an int64 attribute of the run file
# struct sockaddr_un.sun_path, terminating NUL included (Linux 108, the BSDs and macOS 104)
SUN_PATH = 108 if sys.platform.startswith("linux") else 104
LOSSLESS_PROCESSES = ("reader", "builder", "veto", "cuts", "recorder")  # each holds a batch of raw records


def check_system(cfg: Config) -> None:
    """Raise ConfigError naming the first key whose value the system cannot honour."""
    for key in ENDPOINT_KEYS:
        check_endpoint(f"endpoints.{key}", getattr(cfg.endpoints, key))
    for key in ("lossless_hwm", "monitor_hwm"):
        value = getattr(cfg.endpoints, key)
        if value > C_INT_MAX:
            raise ConfigError(f"endpoints.{key}: expected at most {C_INT_MAX} (a ZeroMQ high-water mark is a C int), "
                              f"got {value}")
    seed = cfg.simulation.seed
    if not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"simulation.seed: expected an integer from 0 to 2**63 - 1 (numpy seeds are non-negative), "
                          f"got {seed}")
    _check_memory(cfg)
    _check_frames(cfg)


def check_endpoint(key: str, endpoint: str) -> None:
    """A ZeroMQ endpoint the separate sevens processes can all reach: ``tcp://host:port`` or ``ipc://path``."""
    scheme, sep, address = endpoint.partition("://")
    if scheme == "inproc":
        raise ConfigError(f"{key}: inproc:// endpoints reach only threads of one process, and every sevens process "
                          f"is its own program: expected tcp://host:port or ipc://path, got {endpoint!r}")
    if not sep or scheme not in ("tcp", "ipc"):
        raise ConfigError(f"{key}: expected tcp://host:port or ipc://path, got {endpoint!r}")
    if scheme == "ipc":
        if address in ("", "*"):
            raise ConfigError(f"{key}: expected ipc://path with a fixed path, got {endpoint!r}")
        size = len(address.encode())
        if size >= SUN_PATH:
            raise ConfigError(f"{key}: the ipc path is {size} bytes, a Unix socket path holds at most {SUN_PATH - 1}: "
                              f"use a shorter directory, got {endpoint!r}")
        return
    host, colon, port = address.rpartition(":")
    if not colon or not host.strip("[]"):
        raise ConfigError(f"{key}: expected tcp://host:port, got {endpoint!r}")
    if not port.isdigit() or not PORTS[0] <= int(port) <= PORTS[1]:
        raise ConfigError(f"{key}: expected a tcp port from {PORTS[0]} to {PORTS[1]} (the processes that connect "
                          f"must know it), got {endpoint!r}")


def _check_frames(cfg: Config) -> None:
    """ZMQ_MAXMSGSIZE is an int64 option (-1 = no limit, refused here); a data frame must hold a batch's records."""
    e = cfg.endpoints
    sizes = {"max_data_frame_mib": (e.max_data_frame_mib, 2**20),
             "max_control_frame_kib": (e.max_control_frame_kib, 2**10)}
    for key, (value, unit) in sizes.items():
        if not 0 < value * unit <= INT64_MAX:
            raise ConfigError(f"endpoints.{key}: expected a positive size below 2**63 bytes (ZMQ_MAXMSGSIZE), "
                              f"got {value}")
    d = cfg.digitizer
    frame = cfg.run.batch_max_triggers * d.n_samples * (1 if d.bits <= 8 else 2)
    if frame > e.max_data_bytes:
        raise ConfigError(f"endpoints.max_data_frame_mib: a batch of run.batch_max_triggers = "
                          f"{cfg.run.batch_max_triggers} records of {d.n_samples} samples is a {frame / 2**20:.3g} MiB "
                          f"frame per channel, more than the {e.max_data_frame_mib:g} MiB every data socket accepts: "
                          f"every message would be refused")


def host_memory_bytes() -> int | None:
    """Physical memory of this host, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(cfg: Config) -> None:
    d = cfg.digitizer
    local = [p for p in LOSSLESS_PROCESSES if p not in cfg.supervisor.remote]
    memory = host_memory_bytes()
    if not local or not memory:
        return
    record = len(d.channels) * d.n_samples * (1 if d.bits <= 8 else 2)
    where = (f"{len(local)} processes of the lossless path ({', '.join(local)}) each hold one, more than this host's "
             f"{memory / 1e9:.1f} GB of memory")
    if len(local) * record > memory:
        raise ConfigError(f"digitizer.sample_rate_hz: {d.sample_rate_hz:g} Hz x record_length_ns {d.record_length_ns} "
                          f"is {d.n_samples} samples per record, {record / 1e9:.3g} GB with its {len(d.channels)} "
                          f"channels; {where}")
    recorded = [c for c in ("csi", "veto") if getattr(cfg.recorder, f"raw_{c}")]
    chunks = cfg.recorder.chunk_records * d.n_samples * len(recorded)  # the recorder fills one raw chunk per channel
    if "recorder" in local and chunks > memory:
        raise ConfigError(f"recorder.chunk_records: {cfg.recorder.chunk_records} records of {d.n_samples} samples "
                          f"make {chunks / 1e9:.3g} GB of raw chunks ({', '.join(recorded)}) that the recorder fills "
                          f"in memory, more than this host's {memory / 1e9:.1f} GB")
    batch = cfg.run.batch_max_triggers * record
    if len(local) * batch > memory:
        raise ConfigError(f"run.batch_max_triggers: {cfg.run.batch_max_triggers} records of {record / 1e6:.3g} MB make "
                          f"{batch / 1e9:.3g} GB per message; {where}")
