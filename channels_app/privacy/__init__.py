"""The privacy edge (issue 19): administrators' REST endpoints to export a client's or a CRM contact's data, to
erase it, and to read the audit log. The work itself is in the engine (``engine.exports``, ``engine.erasure``,
``engine.retention``, ``engine.audit``); the admin's actions call the same services."""
