"""Tests of pure code and in-process servers: no broker, no child process."""
