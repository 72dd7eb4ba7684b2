"""The engine: services that own the writes (one transaction each), the reads, and the events they send.

Every change to a conversation goes through a service here, whoever asks for
it (the console, the widget, a connector, a chatbot, a Celery task). Services
take keyword-only arguments and an explicit ``now``, lock rows in one fixed
order (:mod:`~channels_app.engine.locks`), and send events and signals after
commit. The edges above call them; nothing here imports an edge, a task or a
view.

==================  =============================================================
``inbound``         a client's message arrives (every connector and the widget)
``queue``           who is offered a waiting conversation, now or after commit
``offers``          an operator accepts or declines an offer
``conversations``   replying, closing, rating, transfers, the chatbot's hand-over
``operators``       presence, clock-in and breaks, the console language
``sweeps``          the time-driven work beat runs
``selectors``       reads for the console, the widget and the admin
``access``          roles scoped to open channels: who may read and act on what
``locks``           row locks in the fixed order
``availability``    leave, presence and load of operators (for the policy)
``messages``        storing a message; system notices
``transitions``     status and holder changes with their audit rows
``events``          what consoles and widgets are told, after commit
``signals``         what other apps hear, after commit
``jobs``            background work, queued by task name
``texts``           client-facing texts in the channel's language (O3)
``client_view``     what a client is shown: names, who answers (Q12)
``transcripts``     the transcript e-mail's text
``calendars``       an open channel's working-hours calendar
``ratelimit``       token buckets in Redis
``roles``           the groups and their permissions
``encryption``      re-encrypting stored secrets with the current key (rotation)
``errors``          the refusals a user sees
``instruments``     Prometheus counters, gauges and histograms (``/metrics``)
==================  =============================================================
"""
