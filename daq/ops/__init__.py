"""Operating the DAQ for months: per-process rotating logs, Prometheus metrics, returning freed heap.

May import: the standard library only.
"""
