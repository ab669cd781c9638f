"""People: when a person of the team answers instead of the assistant.

The words used here:

team number
    One of `owner_numbers`: a staff member's own WhatsApp. Its messages to the business
    number are commands or answers (webapp/people/commands.py), never a customer's.
handoff
    A customer handed to a person (webapp/people/handoff.py): they asked for one (the model's
    `hand_to_person` signal, or one of `handoff_keywords`), the assistant could not answer
    twice in a row, a turn ended in the fallback reply, or the owner pressed Hand to me. The
    customer gets `handoff_reply`, the bot is paused for them, the team is alerted, and the
    conversation "needs you" until Done.
needs you
    A customer waiting for a person: `contacts.needs_person_since` and `needs_person_why` are
    set, oldest first on the dashboard and the conversations list; also a paused customer
    whose last message is theirs and unanswered. Done (the admin, the CLI or `done` from a
    team number) resumes the bot and clears it.
hold
    A pause the team's reply starts (`pause_on_staff_reply`): `contacts.paused` with
    `resume_at` = the last reply + `takeover_minutes`; the bot answers again after it by
    itself (webapp/people/takeover.py). A handoff's or the owner's own pause has no
    `resume_at`: only Done or Resume ends it.
alert
    A message to each team number, and an e-mail when configured, that a customer needs a
    person (webapp/people/alerts.py, table owner_alerts). Inside the staff member's 24-hour
    window it is a plain message; outside, the `owner_alert_template`.
echo
    What the business sent from the WhatsApp Business app on the same number (coexistence,
    webapp/people/coexistence.py): stored as the team's message, starting a hold.
template
    A message template of the business account (webapp/people/templates.py, table
    whatsapp_templates): the only kind of message WhatsApp takes outside a customer's
    24-hour window.
"""
