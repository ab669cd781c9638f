"""An install's data as a whole: backup and restore, `db copy` to another database, their
commands, and retention (what is older than `retention_days` goes)."""
