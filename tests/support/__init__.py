"""Shared helpers of the test suite: import them from here, never from another test file."""
