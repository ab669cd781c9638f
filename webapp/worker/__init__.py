"""The worker process: its one claim loop (customers' turns and trial cells, each on a pool of
threads), the heartbeat that renews leases, the periodic jobs, and `serve` / `worker`, the
commands that start it with or beside the web server."""
