"""Data in and out: rows from files, gs:// and bq:// (sources); result rows to files, gs:// and bq:// (sinks)."""
