"""Collect stage: everything that reads a host, through one root (reader.open_host picks how)."""
