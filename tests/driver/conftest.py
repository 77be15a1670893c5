from __future__ import annotations

import pytest

from driver.audit import AuditStore


@pytest.fixture
def store(tmp_path):
    s = AuditStore(tmp_path / "audit.db")
    s.add_operator("c1", "Dr Clin", "clinician", "1234")
    s.add_operator("a1", "Ann Aesth", "aesthetician", "5678", by=("c1", "1234"))
    s.add_operator("e1", "Eve Eng", "engineer", "9999", by=("c1", "1234"))
    yield s
    s.close()
