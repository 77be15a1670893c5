"""The clinicians' terminal UI (Textual). It shows what the driver and its governor decide."""
