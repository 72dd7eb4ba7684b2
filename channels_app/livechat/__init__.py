"""Website live chat (S1): the widget a visitor meets on a customer's website.

==============  ================================================================
``visitors``    signed visitor tokens, the visitor's client and conversation, A1
``texts``       the widget's texts in the open channel's language (O3)
``payloads``    everything a visitor's browser is sent
``services``    the visitor's consent and transcript e-mail
``snippet``     the ``<script>`` tag shown in the admin
``views``       the chat frame and the demo website
``api``         REST: the visitor's state, the transcript request
``consumer``    the widget's websocket
==============  ================================================================
"""
