"""Care plan, visit tasks, medicines (eMAR), delivered hours and travel (issue 16).

Pure rules in ``rules`` (care plan and tasks), ``medicines`` and ``hours``; the database
shell in ``models``, ``store`` and ``actions``; access in ``access`` (built on
``rooms.access``); ``api``, ``views`` and ``exports`` are thin adapters. docs/visit-record.md.
"""
