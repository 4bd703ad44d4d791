"""Real servers for the test suite: each module here is a pytest plugin that starts one
service (session-scoped fixture) on 127.0.0.1 and stops it by PID at the end.

A service that cannot start FAILS the tests that need it (never a silent skip).
"""
