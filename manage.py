#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
    from django.core.management import execute_from_command_line

    from contact_center import embedded
    from contact_center.startup import load_settings_or_exit, use_settings_option

    use_settings_option(sys.argv)
    load_settings_or_exit()
    embedded.start()

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
