"""The pen conformance suite: the ICD's promises as checks a firmware team runs on its pen.

    pip install needlepen-*.whl
    needlepen conformance --port /dev/ttyUSB0 [--operator] [--device-class home|professional]

or, with pytest (the plugin is registered under the `pytest11` entry point, so its options exist
in every pytest run, but its checks are collected only when named):

    pytest --pyargs driver.testing.conformance.checks --pen-url /dev/ttyUSB0

Modules: `client` (a minimal ICD host: the protocol package and pyserial only, which keeps
the books of a check), `rules` (the rules checked over every check's frames), `hands` (the
pens a run can check and the physical steps some checks need), `host` (a real driver.Pen
session on the pen under test), `fixtures` (the fixtures and hooks the checks use), `plugin`
(the options, registered globally), `checks` (the checks themselves), `meanings` (what each
check's failure means), `reasons` (the sentences of checks not run), `report` (the summary the
`needlepen conformance` command prints) and `cli` (that command).
"""

#: The package holding the checks, for `pytest --pyargs`.
CHECKS_PACKAGE = "driver.testing.conformance.checks"
