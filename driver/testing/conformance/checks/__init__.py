"""The conformance checks, one module per part of the ICD (see docs/CONFORMANCE.md).

Collected only when named: `pytest --pyargs driver.testing.conformance.checks`,
`needlepen conformance`, or the project's tests/conformance (which imports them).
"""
