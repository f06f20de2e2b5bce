#!/usr/bin/env python3
"""Start and stop real Mosquitto and InfluxDB from a checkout: ``energy_testing/services.py``.

    python3 deploy/local/services.py start|stop|status|env [--dir var/local] …

The code ships in the package (the pytest plugin uses it); this file runs it with the system's
Python before anything is installed, as scripts/demo does.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from energy_testing.services import main

if __name__ == "__main__":
    main()
