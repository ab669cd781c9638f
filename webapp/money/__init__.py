"""Money: what the assistant spends on models, and the limits that keep it inside the owner's
budget.

- spending: the cost the request log holds (every call Switchboard pays for: customers'
  turns, flows, Try it and Compare, transcriptions, document readings, embeddings), summed
  over the owner's days and months and grouped as the cost card shows it.
- budget: `daily_budget` and `monthly_budget`, checked before a call is started (a call in
  flight may finish); past one, `budget_action` says what customers get, and everything else
  that would spend is refused with `budget_exceeded`.
- budget_alerts: the owner told at budget.NEAR (80 %) and at 100 % of each budget, once per
  day or month and level (an app_state row claimed by a conditional insert), through the
  owner alerts (webapp/people/alerts.py, an alert without a customer).
- limits: a customer's answers per hour and cost per day, and a flow key's own limits; past
  one, the customer is told once (`limit_reply`) and then not answered until the period
  ends, unless the owner lifts it.
- card: the dashboard's cost card and `flask --app wsgi costs`: the month so far and its
  projection, by model and by channel, the budget's bar, and Meta's charges counted.
"""
