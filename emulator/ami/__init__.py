"""The AMI head-end / HAN gateway emulator."""
