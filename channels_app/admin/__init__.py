"""Django admin for open channels and everything they own: importing the package registers every page.

=================  ==============================================================
``open_channel``   the open channel in tabs (queue, hours, connectors…), holidays
``connector``      connectors, with their webhook address or widget snippet
``conversation``   conversations, clients and ratings (read-only, for audits)
``operator``       operator profiles and leave periods
``content``        consent forms, canned replies, chatbots
``resources``      CSV/XLSX import and export of canned replies and holidays
=================  ==============================================================
"""

from channels_app.admin import connector, content, conversation, open_channel, operator

__all__ = ["connector", "content", "conversation", "open_channel", "operator"]
