"""The TUI's own widgets: the top bar with its E-STOP button and banner, the face map, the
zone list, the telemetry panel, the event log and the screening question."""
