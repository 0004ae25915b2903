"""Loopback fake broker servers for the adapters' tests (127.0.0.1, ephemeral ports, no internet)."""
