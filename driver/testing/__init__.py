"""needlepen's shipped test kit, as zarr ships `zarr.testing`.

What is here tests needlepen and the pens it talks to from an installed package, without a
clone of the repository: `driver.testing.conformance` is the pen conformance suite (a pytest
plugin and the `needlepen conformance` command).

Import rule: the kit may import anything (protocol, driver, simulator); nothing outside the kit
and the project's tests imports the kit.
"""
