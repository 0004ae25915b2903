"""Pure domain core: instruments, events, ledger, floors, firm rules, calendar, guard (no Qt, no asyncio, no I/O)."""
