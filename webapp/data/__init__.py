"""The data tools: backup, restore, db copy, retention."""
