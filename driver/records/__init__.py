"""The client's clinical record, built from the audit log: treatment courses by concern, the
client's record per zone, session notes, and the printable report for the client's file.

It reads the audit store and the policy's concern library (driver.audit, driver.safety) and is
read by the CLI and the TUI; nothing below it imports it."""
