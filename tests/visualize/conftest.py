import sys
from pathlib import Path

# the report's browser tests share a headless-Chromium probe (browser.py beside this file)
sys.path.insert(0, str(Path(__file__).resolve().parent))
