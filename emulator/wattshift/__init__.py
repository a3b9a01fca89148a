"""The WattShift API emulator: utilities by zip code, homes, solar, and price-signal webhooks."""
