"""Website live chat (S1): the widget a visitor meets on a customer's website.

======================  ==============================================================================
``visitors``            signed visitor tokens, the visitor's client and conversation, A1
``texts``               the widget's texts in the open channel's language (O3)
``payloads``            everything a visitor's browser is sent
``services``            the visitor's messages and files, consent, transcript e-mail, confirming their address
``email_confirmation``  the signed link that confirms a typed address (C1, C2)
``snippet``             the ``<script>`` tag shown in the admin
``views``               the chat frame, the demo website, the address-confirmation page
``api``                 REST: the visitor's state, sending a file, the transcript request
``consumer``            the widget's websocket
======================  ==============================================================================
"""
