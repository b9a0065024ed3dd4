"""Hardware configuration files (TOML); loaded and validated by daq.config."""
