"""The catalogue's tables (SQLAlchemy Core), as of the latest migration (:mod:`daq.catalogue.migrations`).

Times are int64 nanoseconds since the Unix epoch (UTC), as in the run files. JSON columns are
text (portable between SQLite and PostgreSQL). Tags, DQ flags and shift-log entries are
append-only: nothing updates or deletes their rows; a tag is withdrawn by a ``clear`` row.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_ns", sa.BigInteger, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_type", sa.String(32), nullable=False),
    sa.Column("start_ns", sa.BigInteger),
    sa.Column("stop_ns", sa.BigInteger),
    sa.Column("exit_status", sa.Text, nullable=False),  # "running" until completed
    sa.Column("config_sha256", sa.String(64)),
    sa.Column("config_text", sa.Text),
    sa.Column("config_path", sa.Text),
    sa.Column("software_version", sa.String(64)),
    sa.Column("backend", sa.String(32)),
    sa.Column("seed", sa.BigInteger),
    sa.Column("rate_boost", sa.Float),
    sa.Column("speed", sa.Float),
    sa.Column("run_dir", sa.Text),
    sa.Column("host", sa.String(255)),
    sa.Column("triggers_generated", sa.BigInteger),
    sa.Column("triggers_recorded", sa.BigInteger),
    sa.Column("triggers_lost", sa.BigInteger),
    sa.Column("beam_pulses", sa.BigInteger),
    sa.Column("pot", sa.Float),  # protons on target
    sa.Column("gwhr", sa.Float),  # beam energy on target [GW hr]
    sa.Column("livetime_s", sa.Float),  # trigger time covered by DQ intervals [s]
    sa.Column("duration_s", sa.Float),  # wall clock from start to stop [s]
    sa.Column("restarts", sa.Integer),
    sa.Column("baseline_adc", sa.Float),  # DQ summary: means over the run's DQ intervals
    sa.Column("baseline_rms_adc", sa.Float),
    sa.Column("spe_gain", sa.Float),  # [ADC*sample]
    sa.Column("afterglow_fraction", sa.Float),
    sa.Column("cut_fractions", sa.Text),  # JSON: cut name -> fraction of windows failing it
    sa.Column("lineage", sa.Text),  # JSON, the file's lineage attribute
    sa.Column("registered_ns", sa.BigInteger, nullable=False),
    sa.Column("updated_ns", sa.BigInteger, nullable=False),
)

FILE_STATUSES = ("written", "replayed", "moved", "missing")

files = sa.Table(
    "files", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_number", sa.Integer, sa.ForeignKey("runs.number"), nullable=False, index=True),
    sa.Column("sub_run", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False, unique=True),
    sa.Column("size", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),  # computed when the recorder closed it (or when imported)
    sa.Column("status", sa.String(16), nullable=False),  # FILE_STATUSES
    sa.Column("closed_ns", sa.BigInteger),
    sa.Column("checked_ns", sa.BigInteger),  # last `sevens catalogue verify`
    sa.Column("registered_ns", sa.BigInteger, nullable=False),
)

tags = sa.Table(
    "tags", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_number", sa.Integer, sa.ForeignKey("runs.number"), nullable=False, index=True),
    sa.Column("tag", sa.String(64), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),  # set | clear
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("at_ns", sa.BigInteger, nullable=False),
    sa.Column("why", sa.Text, nullable=False),
)

dq_flags = sa.Table(
    "dq_flags", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_number", sa.Integer, sa.ForeignKey("runs.number"), nullable=False, index=True),
    sa.Column("flag", sa.String(64), nullable=False),  # a DQ quantity (baseline_adc) or a name
    sa.Column("severity", sa.String(16), nullable=False),  # info | warning | bad
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("at_ns", sa.BigInteger, nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("start_ns", sa.BigInteger),  # the stretch of the run it concerns (null: all of it)
    sa.Column("stop_ns", sa.BigInteger),
)

shift_log = sa.Table(
    "shift_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at_ns", sa.BigInteger, nullable=False, index=True),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("run_number", sa.Integer, sa.ForeignKey("runs.number"), index=True),
)

derived = sa.Table(
    "derived", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("path", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),  # replay | reprocessing | export
    sa.Column("run_number", sa.Integer),  # the derived file's own number (a replay directory's counter)
    sa.Column("config_sha256", sa.String(64)),
    sa.Column("code_version", sa.String(64)),
    sa.Column("lineage", sa.Text),  # JSON, the file's lineage attribute
    sa.Column("size", sa.BigInteger),
    sa.Column("sha256", sa.String(64)),
    sa.Column("exit_status", sa.Text),
    sa.Column("registered_ns", sa.BigInteger, nullable=False),
)

derived_inputs = sa.Table(
    "derived_inputs", metadata,
    sa.Column("derived_id", sa.Integer, sa.ForeignKey("derived.id"), primary_key=True),
    sa.Column("input_path", sa.Text, primary_key=True),
    sa.Column("input_run", sa.Integer),  # the input's run number (null if not known)
)
