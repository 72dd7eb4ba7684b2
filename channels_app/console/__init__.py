"""The operator console (``/console/``): the page, its REST API and its websocket.

============  ==================================================================
``access``    who may use the console and open which conversation
``views``     the console page and the sign-in
``api``       REST reads (lists, a conversation, its messages) and status, lead
``consumer``  the websocket: offers, replies, closing, transfers, presence
``i18n``      the console in the operator's own language (O3)
============  ==================================================================
"""
