"""The Light API emulator: accounts, client-agent enrollment and signed webhooks."""
