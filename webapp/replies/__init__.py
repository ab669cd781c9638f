"""The message path, in running order."""
