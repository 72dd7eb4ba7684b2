"""Settings for the test suite: the product's own, with DEBUG on.

The product fails closed (DEBUG off, a SECRET_KEY of one's own required); the
tests run as a developer does. Set in ``os.environ`` before the settings are
read, so child processes the tests start (``manage.py serve``, uvicorn) see it
too unless they set their own, as the production-like ones do.
"""

import os

os.environ["DEBUG"] = "true"

from contact_center.settings import *  # noqa: F403
