"""The user's settings: the config file (TOML, no secrets) and the secrets (the OS keyring only)."""
