"""The AMI head-end / HAN gateway emulator, a process of its own for development and tests."""
