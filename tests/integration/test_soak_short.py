#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The soak (tests/soak/soak.py) for 20 s: streams open/close and bulk
transfers through a real relay and two agents on loopback; the relay's fd
count must return to its baseline and its RSS grow by less than the bound
documented in soak.py. LR_SOAK_SECONDS overrides the duration."""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
soak = os.path.join(here, "..", "soak", "soak.py")
duration = os.environ.get("LR_SOAK_SECONDS", "20")
sys.exit(subprocess.call([sys.executable, soak, "--duration", duration]))
