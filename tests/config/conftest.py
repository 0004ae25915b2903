"""tests/config: the settings file and the keyring (no Qt)."""
