"""Broker adapters behind one async protocol (no Qt)."""
