"""Asyncio services: event hub, supervisor, kill switch, journal (no Qt)."""
