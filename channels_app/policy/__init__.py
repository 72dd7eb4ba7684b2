"""Pure policy: the rules of the product as functions of plain values and an explicit ``now``.

No Django, no ORM, no clock, no I/O (an import-linter contract holds this), so
every rule is property-tested in isolation:

- :mod:`~channels_app.policy.distribution`: who is offered a conversation and why (Q2, Q5, C4);
- :mod:`~channels_app.policy.chat_limit`: which held conversations count toward the limit (Q8);
- :mod:`~channels_app.policy.presence`: whether an operator is online (Q6);
- :mod:`~channels_app.policy.schedule`: working-hours calendars across time zones and DST (H1, H2);
- :mod:`~channels_app.policy.outbound`: which addresses an external bot's URL may reach (public ones only);
- :mod:`~channels_app.policy.ratings`: which client reply is an explicit rating, and the channel's rating answers (R1).
"""
