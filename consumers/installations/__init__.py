"""The installation orchestrator (`gridhook consume installations`): a durable workflow per
installation that accepts the Light plan once the hardware is online, then onboards the home
with WattShift."""
