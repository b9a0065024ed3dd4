"""Names of the DAQ processes, in start order (downstream first, sources last)."""

PROCESS_NAMES = ("recorder", "cuts", "veto", "builder", "beam", "reader")
SOURCES = ("beam", "reader")
