"""The software pen: a sans-IO firmware model of ICD v1, its transports and fault injection."""
