"""How the admin shows things to the owner: times in the owner's zone (`times`, `zones`), sums
of money (`money`), and characters that would hide or reorder what a customer wrote
(`hidden_chars`)."""
