"""Config loading: the defaults hold SPEC section 1; every error names file, key and expectation."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from daq import config
from daq.config import ConfigError

DEFAULT_TEXT = config.DEFAULT_CONFIG.read_text()


def test_defaults_are_the_spec_numbers() -> None:
    cfg = config.load()
    # SPEC section 1: 500 MS/s, 8-bit, 2 channels, 70 us records, 60 Hz, 12 us ROIs, C ROI at POT
    assert cfg.digitizer.sample_rate_hz == 500e6 and cfg.digitizer.bits == 8
    assert cfg.digitizer.record_length_ns == 70_000 and cfg.digitizer.n_samples == 35_000
    assert set(cfg.digitizer.channels) == {"csi", "veto"}
    assert cfg.beam.rep_rate_hz == 60.0 and cfg.beam.power_mw == 1.4 and cfg.beam.proton_energy_gev == 1.0
    assert cfg.windows.c_roi[1] - cfg.windows.c_roi[0] == 12_000 == cfg.windows.ac_roi[1] - cfg.windows.ac_roi[0]
    assert cfg.cuts.afterglow_max_pretrace_peaks + 1 == 4  # reject >= 4 pretrace peaks
    assert cfg.cuts.analysis_pe == (6.0, 30.0) and cfg.cuts.analysis_time_ns == (0.0, 6000.0)
    assert cfg.simulation.light_yield_pe_per_kevee == 13.35 and cfg.simulation.mass_kg == 14.57
    assert cfg.simulation.distance_m == 19.3


def bad(old: str, new: str) -> str:
    assert old in DEFAULT_TEXT, old
    return DEFAULT_TEXT.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (bad("bits = 8", 'bits = "eight"'), r"digitizer\.bits: expected an integer, got 'eight'"),
        (bad("sample_rate_hz = 500e6\n", ""), r"digitizer\.sample_rate_hz: missing; expected a number"),
        (bad("seed = 1", "seeed = 1"), r"simulation\.seeed: unknown key"),
        (bad("c_roi = [52000, 64000]", "c_roi = [50000, 62000]"), r"windows\.c_roi: overlaps windows\.c_pretrace"),
        (bad("c_roi = [52000, 64000]", "c_roi = [52000]"), r"windows\.c_roi: expected a list of 2"),
        (bad("ac_roi = [20000, 32000]", "ac_roi = [20000, 31000]"), r"windows\.ac_roi: expected the same length"),
        (bad("c_roi = [52000, 64000]", "c_roi = [64000, 76000]"), r"windows\.c_roi: expected 0 <= start < stop"),
        (bad('backend = "simulated"', 'backend = "magic"'), r"digitizer\.backend: expected one of"),
        (bad("rep_rate_hz = 60.0", "rep_rate_hz = 20000.0"), r"beam\.rep_rate_hz: expected a rate whose period"),
        (bad('records = "tcp://127.0.0.1:5560"', 'records = "http://x"'), r"endpoints\.records: expected tcp://"),
        (bad("speed = 1.0", "speed = 0.0"), r"simulation\.speed: expected a positive number"),
        (bad("analysis_pe = [6.0, 30.0]", "analysis_pe = [30.0, 6.0]"), r"cuts\.analysis_pe: expected \[low, high\]"),
        (bad("[run]", "[run"), "not valid TOML"),
    ],
)
def test_invalid_config_names_file_key_and_expectation(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words) as err:
        config.load(path)
    assert str(err.value).startswith(f"{path}: ")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        config.load(tmp_path / "nope.toml")


def test_overrides_are_validated_and_keep_everything_else() -> None:
    cfg = config.with_overrides(config.load(), {"simulation": {"seed": 99}})
    assert cfg.simulation.seed == 99 and cfg.digitizer.n_samples == 35_000
    assert "seed = 99" in cfg.text
    with pytest.raises(ConfigError, match=r"simulation\.seed"):
        config.with_overrides(config.load(), {"simulation": {"seed": "x"}})


def test_cli_reports_a_bad_config_in_one_line_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(bad("bits = 8", "bits = -3.5"))
    proc = subprocess.run([sys.executable, "-m", "daq.cli", "config", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"sevens: error: {path}: digitizer.bits: expected an integer, got -3.5"
    assert "Traceback" not in proc.stderr


def test_reference_lists_every_key() -> None:
    ref = config.reference_markdown()
    for key in ("sample_rate_hz", "c_roi", "afterglow_max_pretrace_peaks", "monitor_hwm", "rate_boost"):
        assert f"`{key}`" in ref


def test_docs_config_reference_is_the_schema() -> None:
    """docs/config.md is generated from the schema; regenerate it when a key changes
    (`sevens config --reference`, see the page's header)."""
    doc = (config.DEFAULT_CONFIG.parents[1] / "docs" / "config.md").read_text()
    assert doc.rstrip().endswith(config.reference_markdown().rstrip())


def test_every_default_file_loads() -> None:
    for path in sorted(config.DEFAULT_CONFIG.parent.glob("*.toml")):
        config.load(path)


def test_docs_cli_lists_every_command() -> None:
    import argparse

    from daq.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    doc = (config.DEFAULT_CONFIG.parents[1] / "docs" / "cli.md").read_text()
    for name in sub.choices:
        assert f"### `sevens {name}`" in doc, name


# Issue 12: a file that is not UTF-8 TOML, or nested beyond what the parser can take, is one ConfigError
# naming the file and where (these raised UnicodeDecodeError / RecursionError with a traceback).
NOT_TOML_TEXT = {
    "random bytes": (random.Random(12).randbytes(4096), r"not UTF-8 text \(a TOML file must be UTF-8\): byte 0x"),
    "every byte value": (bytes(range(256)), r"not UTF-8 text .*: byte 0x80 at line 2, column 118"),
    "latin-1": ('[run]\ndirectory = "mesures-été"\n'.encode("latin-1"),
                r"not UTF-8 text .*: byte 0xe9 at line 2, column 22"),
    "nested 100000 deep": (("a = " + "[" * 100_000 + "]" * 100_000 + "\n").encode(), r"nested too deeply"),
    "nested inline tables": (("a = " + "{b = " * 2_000 + "1" + "}" * 2_000 + "\n").encode(), r"nested too deeply"),
}


@pytest.mark.parametrize("case", list(NOT_TOML_TEXT))
def test_a_file_that_is_not_utf8_toml_is_one_config_error(tmp_path: Path, case: str) -> None:
    data, words = NOT_TOML_TEXT[case]
    path = tmp_path / "bad.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=words) as err:
        config.load(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_config_text_with_undecodable_bytes_is_refused_where_it_came_from() -> None:
    """h5py reads a damaged UTF-8 attribute (a run file's config) with surrogate escapes: refused, not a crash
    when the text is hashed or written later."""
    text = DEFAULT_TEXT.replace('directory = "runs"', 'directory = "\udcffuns"', 1)
    with pytest.raises(ConfigError, match=r"^run\.h5\[config\]: not UTF-8 text: an undecodable byte at line 6, "
                                          r"column 14$"):
        config.parse(text, "run.h5[config]")


def test_integers_beyond_toml_64_bits_are_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(bad("batch_max_triggers = 64", "batch_max_triggers = 99999999999999999999"))
    with pytest.raises(ConfigError, match=r"run\.batch_max_triggers: expected a 64-bit integer"):
        config.load(path)
