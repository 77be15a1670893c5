"""One module per step of a session: connect, operator, client, screening, treatment, summary,
and the dialogs that sit on top of them."""
