"""Emulators of the systems gridhook talks to, each a process of its own for development and
tests: the AMI head-end (`emulator.ami`), Light's API (`emulator.light`) and WattShift's API
(`emulator.wattshift`)."""
