"""Helpers for the reliability suites (test_crash, test_concurrency, test_hostile, test_fuzz,
test_faults): repository templates, process killing, and the invariants every state must
satisfy. No fixtures here: the test modules own their fixtures."""
