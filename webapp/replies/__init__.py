"""The message path, in running order: a webhook's delivery stored (inbox), delivery statuses
(statuses), the customer's turn (turns) and who holds it (leases), one run of it (runs), the
files it carries (media; their text read by webapp/documents) and what one customer may store
of them (quota), the conversation the model sees (memory), the model chain (pipeline), and the
reply sent (delivery); or, for the admin's test customer, kept for the Try it page (try_it).

The words used here:

turn
    One answer to one customer: it takes every message of theirs still waiting, in order, and
    ends answered, failed or paused. A customer has at most one open turn, so their messages
    are answered one turn at a time; different customers' turns run in parallel.
lease
    A turn's hold: a random token and a time (`lease_until`, by the database's clock, which
    every worker shares) until which the holder may write. The worker's heartbeat renews it
    every few seconds; a lease that runs out (the worker died or stalled) lets another
    worker take the turn over.
fence
    The check every write of a run goes through: in the same transaction, "is the token still
    mine?" and the lease extended. A run whose lease was taken over can never send or finish.
run
    One attempt at a turn, from claim to end. A crash, a stall or a failure inside Switchboard
    ends a run; the turn is taken up again by another run, at most MAX_RUNS (3) in all.
part
    A reply cut to WhatsApp's 4096 characters, one outgoing message each. Parts are stored
    before anything is sent, so a crash never answers twice; a part whose send may or may not
    have arrived is `unknown`, and only the owner's Send again sends it again.
cell
    One model's answer to one question of a trial (the Compare page), claimed and leased by the
    worker like a turn.
merge window
    `merge_window_seconds` of quiet a turn waits for before it answers: a burst of messages is
    answered once.
allowance
    The megabytes of files one customer may have stored in any 24 hours
    (`media_quota_mb_per_day`); past it their files are not downloaded, their messages are
    answered from their words, and they are told why once a day.
deadline
    `answer_within_seconds`: the time a turn has from its claim to its send. The wait for a
    burst may take its first quarter, the send keeps its last quarter; the files and the model
    chain have the rest. The heartbeat renews the lease until the deadline and a moment more
    (the turn's horizon), never longer.
test customer
    An admin chatting with the assistant on the Try it page: a contact with channel
    `playground` whose messages are answered in turns like a customer's, whose replies are
    stored for the page instead of sent, and who is counted as no customer anywhere.

The states a message, part, turn or cell can be in are in webapp/states.py.
"""
